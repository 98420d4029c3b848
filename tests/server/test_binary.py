"""The binary tensor data extension over HTTP, in process: bodies laid out byte by byte as the spec says."""

from __future__ import annotations

import json
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from onnx_serve import binary
from onnx_serve.app import create_app
from onnx_serve.settings import Settings
from server_models import WINE_ROWS, reference_outputs, reference_probabilities, serving

pytestmark = pytest.mark.anyio
GOOD, BAD = "Containers are good", "Containers are terrible"
SETTINGS = Settings(model_dir=Path("/nonexistent"))


def app_for(predictor, kind: str, **settings):
    return create_app(replace(SETTINGS, **settings), predictor=predictor(kind))


def bytes_tensor(texts: list[str]) -> bytes:
    return b"".join(struct.pack("<I", len(t.encode())) + t.encode() for t in texts)


def binary_body(header: dict, *tensors: bytes) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(header).encode()
    return head + b"".join(tensors), {binary.HEADER: str(len(head)), "content-type": "application/octet-stream"}


def split_answer(response) -> tuple[dict, bytes]:
    length = int(response.headers["inference-header-content-length"])
    return json.loads(response.content[:length]), response.content[length:]


async def test_binary_text_in_binary_out_equals_onnxruntime(predictor, model_dir):
    raw = bytes_tensor([GOOD, BAD])
    header = {
        "id": "7",
        "parameters": {"binary_data_output": True},
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": len(raw)}}],
    }
    content, headers = binary_body(header, raw)
    async with serving(app_for(predictor, "text")) as client:
        response = await client.post("/v2/models/sentiment/infer", content=content, headers=headers)
    assert response.status_code == 200 and response.headers["content-type"] == "application/octet-stream"
    answer, tail = split_answer(response)
    label, probs = answer["outputs"]
    assert answer["id"] == "7" and answer["model_version"] == "1" and "data" not in label
    label_bytes, prob_bytes = (
        tail[: label["parameters"]["binary_data_size"]],
        tail[label["parameters"]["binary_data_size"] :],
    )
    assert label_bytes == bytes_tensor(["positive", "negative"])
    assert probs["parameters"]["binary_data_size"] == len(prob_bytes) == 2 * 2 * 4
    got = np.frombuffer(prob_bytes, dtype="<f4").reshape(probs["shape"])
    np.testing.assert_allclose(got, reference_probabilities(model_dir("text"), [GOOD, BAD]), rtol=1e-4, atol=1e-5)


async def test_binary_fp32_in_json_out_and_per_output_choice(predictor, model_dir):
    rows = np.asarray(WINE_ROWS, dtype=np.float32)
    header = {
        "inputs": [{"name": "float_input", "datatype": "FP32", "shape": [3, 13],
                    "parameters": {"binary_data_size": rows.nbytes}}],
        "outputs": [{"name": "label", "parameters": {"binary_data": False}},
                    {"name": "probabilities", "parameters": {"binary_data": True}}],
    }  # fmt: skip
    content, headers = binary_body(header, rows.astype("<f4").tobytes())
    expected = reference_outputs(model_dir("wine"), WINE_ROWS)
    async with serving(app_for(predictor, "wine")) as client:
        response = await client.post("/v2/models/wine/infer", content=content, headers=headers)
    answer, tail = split_answer(response)
    label, probs = answer["outputs"]
    assert label["data"] == expected["label"].tolist() and "parameters" not in label
    assert probs["datatype"] == "FP32" and probs["parameters"] == {"binary_data_size": len(tail)}
    np.testing.assert_allclose(np.frombuffer(tail, "<f4").reshape(3, 3), expected["probabilities"], rtol=1e-5)


async def test_json_requests_still_get_json(predictor):
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [GOOD]}]}
    async with serving(app_for(predictor, "text")) as client:
        response = await client.post("/v2/models/sentiment/infer", json=body)
    assert response.headers["content-type"] == "application/json"
    assert "inference-header-content-length" not in response.headers
    assert response.json()["outputs"][0]["data"] == ["positive"]


async def test_the_server_advertises_the_extension(predictor):
    async with serving(app_for(predictor, "text")) as client:
        assert "binary_tensor_data" in (await client.get("/v2")).json()["extensions"]


def fp32_input(size: int, shape=(1, 13)) -> dict:
    return {"name": "x", "datatype": "FP32", "shape": list(shape), "parameters": {"binary_data_size": size}}


ROW = np.asarray(WINE_ROWS[:1], dtype="<f4").tobytes()


@pytest.mark.parametrize(
    ("header", "tail", "length", "message"),
    [
        ({"inputs": [fp32_input(52)]}, ROW, "9999", "Inference-Header-Content-Length '9999'"),
        ({"inputs": [fp32_input(52)]}, ROW, "-3", "Inference-Header-Content-Length '-3'"),
        ({"inputs": [fp32_input(60)]}, ROW, None, "goes past the end of the binary data (52 bytes left"),
        ({"inputs": [fp32_input(48)]}, ROW, None, "binary_data_size add up to 48"),
        ({"inputs": [fp32_input(50)]}, ROW[:50], None, "not a whole number of FP32 values"),
        ({"inputs": [fp32_input(52, (2, 13))]}, ROW, None, "needs 26 values, data has 13"),
        ({"inputs": [fp32_input("52")]}, ROW, None, "binary_data_size must be a byte count"),
        ({"inputs": [{**fp32_input(52), "data": [1.0] * 13}]}, ROW, None, "both data and parameters.binary_data_size"),
        ({"inputs": [{**fp32_input(4), "datatype": "FLOAT"}]}, ROW[:4], None, "cannot be sent as binary data"),
        ({"inputs": [fp32_input(52)]}, ROW, "", "Inference-Header-Content-Length ''"),
    ],
)
async def test_bad_binary_requests_are_400_naming_the_problem(predictor, header, tail, length, message):
    head = json.dumps(header).encode()
    headers = {binary.HEADER: str(len(head)) if length is None else length}
    async with serving(app_for(predictor, "wine")) as client:
        response = await client.post("/v2/models/wine/infer", content=head + tail, headers=headers)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (struct.pack("<I", 10) + b"abc", "goes past its binary_data_size"),
        (b"\x01\x00", "ends inside a 4-byte length prefix"),
        (struct.pack("<I", 2) + b"\xff\xfe", "not UTF-8 text"),
    ],
)
async def test_bad_bytes_elements_are_400(predictor, raw, message):
    header = {
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": len(raw)}}]
    }
    content, headers = binary_body(header, raw)
    async with serving(app_for(predictor, "text")) as client:
        response = await client.post("/v2/models/sentiment/infer", content=content, headers=headers)
    assert response.status_code == 400 and message in response.json()["error"]


async def test_binary_bodies_have_the_same_size_limit(predictor):
    rows = np.zeros((100, 13), dtype="<f4")
    content, headers = binary_body({"inputs": [fp32_input(rows.nbytes, rows.shape)]}, rows.tobytes())
    async with serving(app_for(predictor, "wine", max_body_bytes=len(content) - 1)) as client:
        response = await client.post("/v2/models/wine/infer", content=content, headers=headers)
    assert response.status_code == 413 and "ONNX_SERVE_MAX_BODY_BYTES" in response.json()["error"]
