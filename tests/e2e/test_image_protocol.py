"""The built image speaks the Open Inference Protocol as tritonclient does by default (binary tensors), at the
model's real version, behind API keys given at run time; compared with onnxruntime run on the runner."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import tritonclient.http as triton

from e2e.helpers import run_cli, serve
from models import make_text_classifier
from server.server_models import reference_probabilities

pytestmark = pytest.mark.engine

KEY = "run-time-key-0b7e"
TEXTS = ["Containers are good", "Containers are terrible"]


def test_the_image_answers_tritonclient_binary_at_its_version_behind_a_key(
        tmp_path, base_image, docker_client, docker_cleanup):
    model = make_text_classifier(tmp_path / "text")
    run = run_cli(tmp_path, "--model-source", "local", "--model-path", str(model), "--model-name", "sentiment",
                  "--model-version", "7", "--push", "false", "--base-image", base_image)
    assert run.code == 0, run.stderr
    docker_cleanup.image(run.outputs["image-id"])
    container, url = serve(docker_client, run.outputs["image-id"], {"ONNX_SERVE_API_KEYS": KEY})
    try:
        assert httpx.get(url + "/v2/health/ready", timeout=10).status_code == 200  # probes need no key
        refused = httpx.post(url + "/predict", json=TEXTS[:1], timeout=10)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
        client = triton.InferenceServerClient(url.removeprefix("http://"))
        tensor = triton.InferInput("text", [len(TEXTS)], "BYTES")
        tensor.set_data_from_numpy(np.asarray(TEXTS, dtype=object))  # binary, the client's default
        result = client.infer("sentiment", [tensor], model_version="7",
                              headers={"Authorization": f"Bearer {KEY}"})
        np.testing.assert_allclose(result.as_numpy("probabilities"), reference_probabilities(model, TEXTS),
                                   rtol=1e-4, atol=1e-5)
        assert result.get_response()["model_version"] == "7"
        assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    finally:
        container.remove(force=True)
