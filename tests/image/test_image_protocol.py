"""The built image speaks the Open Inference Protocol as tritonclient does by default (binary tensors), at the
model's real version, behind API keys given at run time; compared with onnxruntime run on the runner. Its JSON
answers on every path of the protocol's OpenAPI document (tests/support/oip_openapi/) are held to the document,
as tests/server/test_oip_spec.py holds the server's in process."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import tritonclient.http as triton

from cli_runs import package_local, run_cli, serve
from client_venv import drive_grpc
from models import make_text_classifier
from oip_spec import PATHS, calls, check
from server_models import reference_probabilities

pytestmark = pytest.mark.engine

KEY = "run-time-key-0b7e"
TEXTS = ["Containers are good", "Containers are terrible"]


def test_the_image_answers_tritonclient_binary_at_its_version_behind_a_key(
    tmp_path, base_image, docker_client, docker_cleanup
):
    model = make_text_classifier(tmp_path / "text")
    run = package_local(tmp_path, model, model_name="sentiment", model_version="7", push="false", base_image=base_image)
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
        result = client.infer("sentiment", [tensor], model_version="7", headers={"Authorization": f"Bearer {KEY}"})
        np.testing.assert_allclose(
            result.as_numpy("probabilities"), reference_probabilities(model, TEXTS), rtol=1e-4, atol=1e-5
        )
        assert result.get_response()["model_version"] == "7"
        assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
        assert_the_openapi_document_holds(url, "sentiment", "7")
    finally:
        container.remove(force=True)


def assert_the_openapi_document_holds(url: str, name: str, version: str) -> None:
    """Every path of the document, as in tests/server/test_oip_spec.py: the served ones answer 200 in their
    schema, and 404 (unknown model or version) and 400 (bad body) in the document's error schema; the
    unsupported ones 404."""
    body = {"id": "e2e-1", "inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(TEXTS)], "data": TEXTS}]}
    made = calls(name, version, body)
    assert {(c.method, c.template) for c in made} == set(PATHS)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as http:
        for call in made:
            response = http.request(call.method, call.path, **call.body)
            check(call, response.status_code, response.headers["content-type"], response.json())
        answer = http.post(f"/v2/models/{name}/versions/{version}/infer", json=body).json()
    assert answer["model_version"] == version and answer["id"] == "e2e-1"
    assert {output["name"] for output in answer["outputs"]} >= {"label", "probabilities"}


def test_grpc_true_serves_the_protocol_over_grpc_on_8081_and_only_then_carries_grpcio(
    tmp_path, base_image, docker_client, docker_cleanup
):
    model = make_text_classifier(tmp_path / "text")
    args = [
        "--model-source",
        "local",
        "--model-path",
        str(model),
        "--model-name",
        "sentiment",
        "--model-version",
        "7",
        "--push",
        "false",
        "--base-image",
        base_image,
    ]
    (tmp_path / "plain").mkdir()
    (tmp_path / "grpc").mkdir()
    plain = run_cli(tmp_path / "plain", *args)
    with_grpc = run_cli(tmp_path / "grpc", *args, "--grpc", "true")
    assert plain.code == 0 and with_grpc.code == 0, plain.stderr + with_grpc.stderr
    for run in (plain, with_grpc):
        docker_cleanup.image(run.outputs["image-id"])
    image = docker_client.images.get(with_grpc.outputs["image-id"])
    assert "8081/tcp" in image.attrs["Config"]["ExposedPorts"]
    assert "8081/tcp" not in docker_client.images.get(plain.outputs["image-id"]).attrs["Config"]["ExposedPorts"]
    added = image.attrs["Size"] - docker_client.images.get(plain.outputs["image-id"]).attrs["Size"]
    assert added > 0  # grpcio and protobuf: printed for the README's figure
    print(f"grpc: true adds {added / 1e6:.1f} MB to the image")

    container, url = serve(docker_client, image.id, {"ONNX_SERVE_API_KEYS": KEY}, also=("8081/tcp",))
    try:
        grpc_port = container.attrs["NetworkSettings"]["Ports"]["8081/tcp"][0]["HostPort"]
        answers = drive_grpc(
            {
                "address": f"127.0.0.1:{grpc_port}",
                "key": KEY,
                "model": "sentiment",
                "version": "7",
                "texts": TEXTS,
                "outputs": ["label", "probabilities"],
            }
        )
        expected = reference_probabilities(model, TEXTS)
        for client in ("triton", "kserve"):
            got = np.asarray(answers[client]["outputs"]["probabilities"]).reshape(expected.shape)
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
        assert answers["triton"]["wrong_key"] == "StatusCode.UNAUTHENTICATED"
        assert httpx.get(url + "/v2/health/ready", timeout=10).status_code == 200
    finally:
        container.remove(force=True)
