"""The real Open Inference Protocol clients against `python -m onnx_serve` on 127.0.0.1, with their defaults.

tritonclient[http] (binary tensors by default) runs here; the KServe SDK pins an old protobuf, so it
runs in a venv of its own (scripts/setup-machine.sh makes .venv-kserve; KSERVE_PYTHON overrides), driven
through kserve_driver.py. Every answer is compared with onnxruntime run directly on the same input.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton
import uvicorn
from test_server_process import free_port, start, wait_ready
from tritonclient.utils import InferenceServerException

from client_venv import run_driver
from onnx_serve.app import create_app
from onnx_serve.settings import Settings
from onnx_serve.spec import read_spec
from server_models import WINE_ROWS, reference_outputs, reference_probabilities

ROOT = Path(__file__).resolve().parents[2]
KEY, VERSION = "test-key-5f1c9a", "3"
TEXTS = ["Containers are good", "Containers are terrible", "i think the builds are really slow"]
TEXT_OUTPUTS, WINE_OUTPUTS = ["label", "probabilities"], ["label", "probabilities"]


def auth() -> dict[str, str]:
    """A fresh dict per call: tritonclient writes Inference-Header-Content-Length into the one it is given."""
    return {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def served(model_dir: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable]:
    """served(kind) -> (url, model folder): a server process behind KEY, its serve.json at VERSION."""
    running: dict[str, tuple[str, Path]] = {}
    processes = []

    def get(kind: str) -> tuple[str, Path]:
        if kind not in running:
            folder = tmp_path_factory.mktemp(f"versioned-{kind}")
            shutil.copytree(model_dir(kind), folder, dirs_exist_ok=True)
            replace(read_spec(folder), version=VERSION).write(folder)
            port = free_port()
            processes.append(start(folder, port, ONNX_SERVE_API_KEYS=f"other-key,{KEY}"))
            wait_ready(processes[-1], port)
            running[kind] = (f"127.0.0.1:{port}", folder)
        return running[kind]

    yield get
    for process in processes:
        process.terminate()
        process.communicate(timeout=60)


def close(got: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


# --- tritonclient[http] -----------------------------------------------------------------------------


def triton_text(texts: list[str], binary: bool) -> triton.InferInput:
    tensor = triton.InferInput("text", [len(texts)], "BYTES")
    tensor.set_data_from_numpy(np.asarray(texts, dtype=object), binary_data=binary)
    return tensor


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("version", [VERSION, ""], ids=["versioned", "unversioned"])
def test_tritonclient_text_model(served, binary, version):
    url, folder = served("text")
    client = triton.InferenceServerClient(url)
    outputs = None if binary else [triton.InferRequestedOutput(o, binary_data=False) for o in TEXT_OUTPUTS]
    result = client.infer(
        "sentiment", [triton_text(TEXTS, binary)], model_version=version, outputs=outputs, headers=auth()
    )
    expected = reference_probabilities(folder, TEXTS)
    close(result.as_numpy("probabilities"), expected)
    labels = [("negative", "positive")[i] for i in expected.argmax(axis=1)]
    assert [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")] == labels
    answer = result.get_response()
    assert answer["model_version"] == VERSION and answer["model_name"] == "sentiment"
    assert all(("parameters" in o) == binary for o in answer["outputs"])  # binary outputs carry their size


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("version", [VERSION, ""], ids=["versioned", "unversioned"])
def test_tritonclient_tabular_model(served, binary, version):
    url, folder = served("wine")
    client = triton.InferenceServerClient(url)
    rows = np.asarray(WINE_ROWS, dtype=np.float32)
    tensor = triton.InferInput("float_input", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=binary)
    outputs = [triton.InferRequestedOutput(o, binary_data=binary) for o in WINE_OUTPUTS]
    result = client.infer("wine", [tensor], model_version=version, outputs=outputs, request_id="r-1", headers=auth())
    expected = reference_outputs(folder, WINE_ROWS)
    assert result.as_numpy("label").tolist() == expected["label"].tolist()
    close(result.as_numpy("probabilities"), expected["probabilities"])
    assert result.get_response()["id"] == "r-1"


def test_tritonclient_health_and_metadata(served):
    url, _ = served("wine")
    client = triton.InferenceServerClient(url)
    assert client.is_server_live() and client.is_server_ready()
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    assert client.is_model_ready("wine", VERSION, headers=auth()) and client.is_model_ready("wine", headers=auth())
    metadata = client.get_model_metadata("wine", VERSION, headers=auth())
    assert metadata["versions"] == [VERSION] and metadata["inputs"][0]["datatype"] == "FP32"
    assert not client.is_model_ready("wine", "2", headers=auth())
    with pytest.raises(InferenceServerException, match=r"has no version '2'; its versions: \['3'\]"):
        client.get_model_metadata("wine", "2", headers=auth())


@pytest.mark.parametrize("headers", [None, {"Authorization": "Bearer wrong"}], ids=["no-key", "wrong-key"])
def test_tritonclient_without_a_valid_key_is_refused(served, headers):
    url, _ = served("text")
    client = triton.InferenceServerClient(url)
    with pytest.raises(InferenceServerException) as refused:
        client.infer("sentiment", [triton_text(TEXTS[:1], True)], headers=headers)
    assert refused.value.status() == "401" and "API key" in refused.value.message()
    assert not client.is_model_ready("sentiment", headers=headers)
    assert client.is_server_ready(headers=headers)  # health stays open for probes


# --- the KServe SDK's REST client -------------------------------------------------------------------


def kserve(job: dict) -> dict:
    return run_driver(Path(__file__).with_name("kserve_driver.py"), job)


def test_kserve_client_text_model(served):
    url, folder = served("text")
    job = {"url": f"http://{url}", "key": KEY, "model": "sentiment", "version": VERSION, "texts": TEXTS}
    answers = kserve({**job, "outputs": TEXT_OUTPUTS})
    expected = reference_probabilities(folder, TEXTS)
    labels = [("negative", "positive")[i] for i in expected.argmax(axis=1)]
    assert answers["live"] is True and answers["ready"] is True and answers["model_ready"] is True
    for form in ("json", "binary", "versioned"):
        outputs = answers[form]["outputs"]
        close(np.asarray(outputs["probabilities"]).reshape(expected.shape), expected)
        assert outputs["label"] == labels, form
    assert answers["versioned"]["model_version"] == VERSION  # kserve's InferResponse.from_bytes drops it
    assert answers["json"]["id"] and answers["binary"]["id"]  # the uuid string it sends, echoed
    challenge = 'Bearer realm="onnx-serve"'
    assert answers["no_key"] == {"status": 401, "challenge": challenge}
    assert answers["wrong_key"] == {"status": 401, "challenge": f'{challenge}, error="invalid_token"'}


def test_kserve_client_tabular_model(served):
    url, folder = served("wine")
    job = {"url": f"http://{url}", "key": KEY, "model": "wine", "version": VERSION, "rows": WINE_ROWS}
    answers = kserve({**job, "outputs": WINE_OUTPUTS})
    expected = reference_outputs(folder, WINE_ROWS)
    for form in ("json", "binary", "versioned"):
        outputs = answers[form]["outputs"]
        assert outputs["label"] == expected["label"].tolist(), form
        close(np.asarray(outputs["probabilities"]).reshape(3, 3), expected["probabilities"])


def test_kserve_client_reads_a_loading_model_as_not_ready():
    """Not ready: the client's is_model_ready says False; is_server_ready raises on the 503, as against KServe."""
    port = free_port()
    app = create_app(Settings(model_dir=Path("/nonexistent")), predictor=Future())  # never done loading
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        answers = kserve({"url": f"http://127.0.0.1:{port}", "key": KEY, "model": "sentiment", "not_ready": True})
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert answers == {"model_ready": False, "server_ready": {"status": 503}}
