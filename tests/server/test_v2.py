"""Open Inference Protocol v2: metadata, FP32 / INT64 / BYTES tensors, and the requests it refuses."""

from __future__ import annotations

import pytest

from onnx_serve import v2
from onnx_serve.errors import RequestError
from server_models import WINE_ROWS

GOOD, BAD = "Containers are good", "Containers are terrible"


def tensor(name, datatype, shape, data):
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}


def test_server_metadata():
    assert v2.server_metadata()["name"] == "onnx-serve"


def test_model_metadata_describes_what_the_server_takes(predictor):
    text = v2.model_metadata(predictor("text"))
    assert text["name"] == "sentiment" and text["versions"] == ["1"] and text["platform"] == "onnxruntime_onnx"
    assert text["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert {o["name"] for o in text["outputs"]} == {"label", "probabilities"}
    wine = v2.model_metadata(predictor("wine"))
    assert wine["inputs"] == [{"name": "float_input", "datatype": "FP32", "shape": [-1, 13]}]
    assert wine["outputs"][0] == {"name": "label", "datatype": "INT64", "shape": [-1]}
    zipmap = v2.model_metadata(predictor("wine-zipmap"))
    assert zipmap["outputs"][1] == {"name": "output_probability", "datatype": "FP32", "shape": [-1, -1]}


def test_text_as_bytes(predictor):
    body = {"id": "42", "inputs": [tensor("text", "BYTES", [2], [GOOD, BAD])]}
    answer = v2.infer(predictor("text"), body)
    assert answer["model_name"] == "sentiment" and answer["model_version"] == "1" and answer["id"] == "42"
    label, probs = answer["outputs"]
    assert label == {"name": "label", "datatype": "BYTES", "shape": [2], "data": ["positive", "negative"]}
    assert probs["datatype"] == "FP32" and probs["shape"] == [2, 2] and len(probs["data"]) == 4


def test_requested_outputs_only(predictor):
    body = {"inputs": [tensor("text", "BYTES", [1, 1], [[GOOD]])], "outputs": [{"name": "label"}]}
    assert [o["name"] for o in v2.infer(predictor("text"), body)["outputs"]] == ["label"]


def test_a_text_model_takes_raw_int64_tensors_too(predictor):
    text = predictor("text")
    feeds = text.encoder.encode([GOOD])[0][1]
    inputs = [tensor(name, "INT64", list(value.shape), value.ravel().tolist()) for name, value in feeds.items()]
    [logits] = v2.infer(text, {"inputs": inputs})["outputs"]
    assert logits["name"] == "logits" and logits["shape"] == [1, 2] and logits["data"][1] > logits["data"][0]


def test_tabular_fp32_flat_or_nested(predictor):
    wine = predictor("wine")
    flat = v2.infer(wine, {"inputs": [tensor("float_input", "FP32", [2, 13], WINE_ROWS[0] + WINE_ROWS[1])]})
    nested = v2.infer(wine, {"inputs": [tensor("any-name", "FP64", [2, 13], WINE_ROWS[:2])]})
    assert flat == nested
    assert flat["outputs"][0] == {"name": "label", "datatype": "INT64", "shape": [2], "data": [0, 0]}
    zipmap = v2.infer(predictor("wine-zipmap"), {"inputs": [tensor("x", "FP32", [1, 13], WINE_ROWS[0])]})
    assert zipmap["outputs"][1]["shape"] == [1, 3] and zipmap["outputs"][1]["datatype"] == "FP32"


def test_raw_tensors_are_cast_to_the_model_types(predictor):
    body = {"inputs": [tensor("ids", "INT32", [1, 4], [1, 2, 3, 4]), tensor("x", "FP32", [1, 3], [1, 2, 3])]}
    outputs = {o["name"]: o for o in v2.infer(predictor("tensor"), body)["outputs"]}
    assert outputs["ids_sum"] == {"name": "ids_sum", "datatype": "INT64", "shape": [1], "data": [10]}
    assert outputs["scaled"]["data"] == [2.0, 4.0, 6.0]


X = tensor("x", "FP32", [1, 3], [1, 2, 3])
IDS = tensor("ids", "INT64", [1, 4], [1, 2, 3, 4])


@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        ("tensor", [], "an inference request is"),
        ("tensor", {"inputs": []}, "an inference request is"),
        ("tensor", {"inputs": [{"name": "x"}]}, "needs name, shape, datatype and data"),
        ("tensor", {"inputs": [tensor("x", "FLOAT", [1, 3], [1, 2, 3]), IDS]}, "datatype 'FLOAT'"),
        ("tensor", {"inputs": [tensor("x", "FP32", [-1, 3], [1, 2, 3]), IDS]}, "non-negative integers"),
        ("tensor", {"inputs": [tensor("x", "FP32", [2, 3], [1, 2, 3]), IDS]}, "needs 6 values"),
        ("tensor", {"inputs": [tensor("x", "FP32", [1, 4], [1, 2, 3, 4]), IDS]}, r"takes shape \[-1, 3\]"),
        ("tensor", {"inputs": [tensor("x", "FP32", [3], [1, 2, 3]), IDS]}, r"takes shape \[-1, 3\]"),
        ("tensor", {"inputs": [X]}, "takes inputs"),
        ("tensor", {"inputs": [X, tensor("idz", "INT64", [1, 4], [1, 2, 3, 4])]}, "takes inputs"),
        ("tensor", {"inputs": [X, tensor("ids", "FP32", [1, 4], [1, 2, 3, 4])]}, "takes INT64, got FP32"),
        ("tensor", {"inputs": [X, tensor("ids", "INT64", [1, 4], [1.5, 2, 3, 4])]}, "only integers"),
        ("tensor", {"inputs": [X, tensor("ids", "INT64", [1, 4], [2**70, 2, 3, 4])]}, "only integers"),
        ("tensor", {"inputs": [X, tensor("ids", "INT64", [1, 4], ["a", 2, 3, 4])]}, "only integers"),
        ("tensor", {"inputs": [X, IDS], "outputs": [{"name": "nope"}]}, "unknown outputs"),
        ("tensor", {"inputs": [X, IDS], "outputs": "scaled"}, '"outputs" must be a list'),
        ("tensor", {"inputs": [tensor("x", "BYTES", [1], ["a"])]}, "BYTES input is for text models"),
        ("text", {"inputs": [tensor("text", "BYTES", [2], ["a", 1])]}, "BYTES data must be strings"),
        ("text", {"inputs": [tensor("text", "BYTES", [0], [])]}, "no items"),
        ("text", {"inputs": [tensor("text", "BYTES", [1], ["a"])], "outputs": [{"name": "x"}]}, "unknown outputs"),
        ("wine", {"inputs": [tensor("x", "FP32", [1, 12], [1.0] * 12)]}, r"\[n_rows, 13\]"),
        ("wine", {"inputs": [tensor("x", "FP32", [1, 13], [1.0] * 13)] * 2}, "takes one input"),
    ],
)
def test_bad_requests_are_400(predictor, kind, body, message):
    with pytest.raises(RequestError, match=message) as caught:
        v2.infer(predictor(kind), body)
    assert caught.value.status == 400


def test_onnxruntime_refusing_raw_inputs_is_a_bad_request(predictor):
    text = predictor("text")
    ids = tensor("input_ids", "INT64", [1, 3], [1, 10**6, 2])
    ones = [tensor(name, "INT64", [1, 3], [1, 1, 1]) for name in ("attention_mask", "token_type_ids")]
    with pytest.raises(RequestError, match="onnxruntime rejected") as caught:
        v2.infer(text, {"inputs": [ids, *ones]})
    assert caught.value.status == 400
