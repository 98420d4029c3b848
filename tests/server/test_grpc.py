"""The Open Inference Protocol over gRPC, with the real clients as their users call them (tritonclient.grpc and the
KServe SDK's InferenceGRPCClient, in the client venv), against `python -m onnx_serve` with ONNX_SERVE_GRPC_PORT;
every answer compared with onnxruntime run directly."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from test_server_process import free_port, start, wait_ready

from client_venv import drive_grpc
from server_models import WINE_ROWS, reference_outputs, reference_probabilities

KEY, TEXTS = "grpc-key-3c1d", ["Containers are good", "Containers are terrible"]


@pytest.fixture(scope="module")
def grpc_served(model_dir: Callable[[str], Path]) -> Iterator[Callable[[str], tuple[str, Path]]]:
    running: dict[str, tuple[str, Path]] = {}
    processes = []

    def get(kind: str) -> tuple[str, Path]:
        if kind not in running:
            port, grpc_port = free_port(), free_port()
            processes.append(start(model_dir(kind), port, ONNX_SERVE_GRPC_PORT=str(grpc_port), ONNX_SERVE_API_KEYS=KEY))
            wait_ready(processes[-1], port)
            running[kind] = (f"127.0.0.1:{grpc_port}", model_dir(kind))
        return running[kind]

    yield get
    for process in processes:
        process.terminate()
        process.communicate(timeout=60)


def spec_version(folder: Path) -> str:
    return str(json.loads((folder / "serve.json").read_text())["version"])


def test_text_model_over_grpc(grpc_served):
    address, folder = grpc_served("text")
    version = spec_version(folder)
    answers = drive_grpc(
        {
            "address": address,
            "key": KEY,
            "model": "sentiment",
            "version": version,
            "texts": TEXTS,
            "outputs": ["label", "probabilities"],
        }
    )
    expected = reference_probabilities(folder, TEXTS)
    labels = [("negative", "positive")[i] for i in expected.argmax(axis=1)]
    triton = answers["triton"]
    assert (triton["live"], triton["ready"], triton["model_ready"]) == (True, True, True)
    assert "binary_tensor_data" in triton["extensions"]
    assert triton["metadata"]["versions"] == [version] and triton["metadata"]["inputs"][0]["datatype"] == "BYTES"
    assert (triton["id"], triton["model_version"]) == ("g-1", version)
    np.testing.assert_allclose(
        np.asarray(triton["outputs"]["probabilities"]).reshape(expected.shape), expected, rtol=1e-4, atol=1e-5
    )
    assert triton["outputs"]["label"] == labels
    assert triton["wrong_key"] == "StatusCode.UNAUTHENTICATED"
    assert triton["unknown_version"][0] == "StatusCode.NOT_FOUND" and version in triton["unknown_version"][1]
    kserve = answers["kserve"]
    assert kserve["live"] is True and kserve["ready"] is True and kserve["outputs"]["label"] == labels
    np.testing.assert_allclose(
        np.asarray(kserve["outputs"]["probabilities"]).reshape(expected.shape), expected, rtol=1e-4, atol=1e-5
    )


def test_tabular_model_over_grpc(grpc_served):
    address, folder = grpc_served("wine")
    answers = drive_grpc(
        {
            "address": address,
            "key": KEY,
            "model": "wine",
            "version": spec_version(folder),
            "rows": WINE_ROWS,
            "outputs": ["label", "probabilities"],
        }
    )
    expected = reference_outputs(folder, WINE_ROWS)
    for client in ("triton", "kserve"):
        outputs = answers[client]["outputs"]
        assert outputs["label"] == expected["label"].tolist()
        np.testing.assert_allclose(
            np.asarray(outputs["probabilities"]).reshape(expected["probabilities"].shape),
            expected["probabilities"],
            rtol=1e-4,
            atol=1e-5,
        )
