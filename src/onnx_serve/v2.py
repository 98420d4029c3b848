"""Open Inference Protocol v2 (KServe / Triton REST), JSON tensors, transport-free.

    server_metadata()                   # GET /v2
    model_metadata(predictor)           # GET /v2/models/{name}[/versions/{version}]
    infer(predictor, body)              # POST /v2/models/{name}[/versions/{version}]/infer, parsed JSON in

Inputs are FP32/FP64/INT*/UINT*/BOOL tensors named like the model's inputs (any name if it has one),
or, for a text model, one BYTES tensor of strings: its answer holds `label` (BYTES) and
`probabilities` (FP32 [n, n_labels]). `data` may be flat (row-major) or nested, or a flat array or
list of strings that `binary.attach_inputs` took from the binary tensor data. Outputs asked for as
binary (`binary.wants_binary`) carry their `data` as bytes, for `binary.encode` to lay out.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import __version__, binary
from .errors import RequestError
from .predictor import Feeds, Outputs, Predictor, Texts
from .protocol import Call, check_items, encodable, numeric_array, rows_job
from .spec import TEXT_TASK
from .tensors import TensorSpec

DATATYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}
NUMPY_TO_DATATYPE = {np.dtype(t): name for name, t in DATATYPES.items() if name != "BYTES"}
# numpy kinds a JSON array may hold for each family of datatypes
JSON_KINDS = {"b": "b", "i": "biu", "u": "biu", "f": "biuf"}
TEXT_OUTPUTS = ("label", "probabilities")


def server_metadata() -> dict[str, Any]:
    return {"name": "onnx-serve", "version": __version__, "extensions": [binary.EXTENSION]}


def model_metadata(predictor: Predictor) -> dict[str, Any]:
    spec = predictor.spec
    if spec.task == TEXT_TASK:
        inputs = [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
        labels = len(spec.labels) if spec.labels else -1
        outputs = [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, labels]},
        ]
    else:
        inputs = [_tensor_metadata(t) for t in predictor.inputs]
        outputs = [_tensor_metadata(t) for t in predictor.outputs]
    return {
        "name": spec.name,
        "versions": [spec.version],
        "platform": "onnxruntime_onnx",
        "inputs": inputs,
        "outputs": outputs,
    }


def infer(predictor: Predictor, body: Any) -> dict[str, Any]:
    call = parse_infer(predictor, body)
    answer: dict[str, Any] = call.render(predictor.run_batch([call.job])[0])
    return answer


def parse_infer(predictor: Predictor, body: Any, max_items: int | None = None) -> Call:
    tensors = _request_tensors(body)
    _check_id(body)
    wanted = _requested_outputs(body)
    if any(t["datatype"] == "BYTES" for t in tensors):
        call = _text_call(predictor, tensors, wanted, body)
    elif predictor.spec.task == "tabular":
        call = _tabular_call(predictor, tensors, wanted, body)
    else:
        job = Feeds(_feeds(predictor, tensors))
        call = Call(job, lambda outputs: _response(predictor, body, _tensors(outputs, wanted, body)))
    check_items(call.job, max_items)
    return call


# --- request parsing -----------------------------------------------------------------------------


def _request_tensors(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise RequestError('an inference request is {"inputs": [{"name", "shape", "datatype", "data"}, ...]}')
    return [_request_tensor(t) for t in body["inputs"]]


def _request_tensor(tensor: Any) -> dict[str, Any]:
    if not isinstance(tensor, dict) or not {"name", "shape", "datatype", "data"} <= tensor.keys():
        raise RequestError(f"each input needs name, shape, datatype and data, got {str(tensor)[:80]}")
    name, shape, datatype = tensor["name"], tensor["shape"], tensor["datatype"]
    if not isinstance(name, str):
        raise RequestError(f"input name must be a string, got {name!r}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise RequestError(f"input {name}: shape must be a list of non-negative integers, got {shape!r}")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise RequestError(f"input {name}: datatype {datatype!r} is not one of {', '.join(DATATYPES)}")
    return tensor


def _check_id(body: dict[str, Any]) -> None:
    """The schema's id is a string: a number echoed back as a number would break typed clients."""
    if "id" in body and not isinstance(body["id"], str):
        raise RequestError(f'"id" must be a string, got {body["id"]!r:.40}; send it quoted')


def _requested_outputs(body: dict[str, Any]) -> list[str] | None:
    outputs = body.get("outputs")
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise RequestError('"outputs" must be a list of {"name": "..."}')
    return [o["name"] for o in outputs]


def _array(tensor: dict[str, Any], dtype: Any) -> np.ndarray:
    """The tensor's data as an array of its declared shape, in `dtype`."""
    name, shape = tensor["name"], tensor["shape"]
    if tensor["datatype"] == "BYTES":
        array = np.asarray(_flat_strings(tensor["data"], name), dtype=object)
    else:
        kinds = JSON_KINDS[np.dtype(DATATYPES[tensor["datatype"]]).kind]
        array = numeric_array(tensor["data"], f"input {name}", kinds)
    if array.size != math.prod(shape):
        raise RequestError(f"input {name}: shape {shape} needs {math.prod(shape)} values, data has {array.size}")
    try:
        return array.reshape(shape).astype(dtype, copy=False)
    except (ValueError, OverflowError) as e:
        raise RequestError(f"input {name}: values do not fit {np.dtype(dtype).name}: {e}") from e


def _flat_strings(data: Any, name: str) -> list[str]:
    items = data if isinstance(data, list) else [data]
    flat: list[str] = []
    for item in items:
        if isinstance(item, list):
            flat.extend(_flat_strings(item, name))
        elif isinstance(item, str):
            flat.append(encodable(item, f"input {name}"))
        else:
            raise RequestError(f"input {name}: BYTES data must be strings, got {item!r:.40}")
    return flat


# --- the three kinds of calls --------------------------------------------------------------------


def _text_call(predictor: Predictor, tensors: list[dict[str, Any]], wanted: list[str] | None, body: Any) -> Call:
    if predictor.spec.task != TEXT_TASK or len(tensors) != 1:
        raise RequestError("BYTES input is for text models, as their only input (a [n] tensor of strings)")
    _check_names(wanted, TEXT_OUTPUTS)
    texts = list(_array(tensors[0], object).ravel())

    def render(probs: np.ndarray) -> dict[str, Any]:
        labels = predictor.label_names(probs.shape[1])
        values = {"label": np.asarray([labels[i] for i in probs.argmax(axis=1)], dtype=object), "probabilities": probs}
        return _response(predictor, body, _tensors(values, wanted, body))

    return Call(Texts(texts), render)


def _tabular_call(predictor: Predictor, tensors: list[dict[str, Any]], wanted: list[str] | None, body: Any) -> Call:
    if len(tensors) != 1:
        raise RequestError(f"this tabular model takes one input, {predictor.inputs[0].name}, got {len(tensors)}")
    _check_names(wanted, [t.name for t in predictor.outputs])
    job = rows_job(predictor, _array(tensors[0], predictor.feature_dtype))
    return Call(job, lambda outputs: _response(predictor, body, _tensors(outputs, wanted, body)))


def _feeds(predictor: Predictor, tensors: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    expected = {t.name: t for t in predictor.inputs}
    if len(expected) == 1 and len(tensors) == 1:  # one input: any name will do
        tensors = [{**tensors[0], "name": next(iter(expected))}]
    names = [t["name"] for t in tensors]
    if sorted(names) != sorted(expected):
        raise RequestError(f"the model takes inputs {sorted(expected)}, got {names}")
    return {t["name"]: _model_array(t, expected[t["name"]]) for t in tensors}


def _model_array(tensor: dict[str, Any], spec: TensorSpec) -> np.ndarray:
    dtype = spec.dtype
    if dtype is None or dtype.kind == "O":
        raise RequestError(f"input {spec.name} has type {spec.type}, which this server cannot feed from JSON")
    sent = np.dtype(DATATYPES[tensor["datatype"]])
    if sent.kind not in JSON_KINDS[dtype.kind]:
        raise RequestError(f"input {spec.name} takes {NUMPY_TO_DATATYPE[dtype]}, got {tensor['datatype']}")
    array = _array(tensor, dtype)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise RequestError(f"input {spec.name} must hold finite numbers within {dtype.name}")
    if not _fits(array.shape, spec.shape):
        shape = [d if d is not None else -1 for d in spec.shape]
        raise RequestError(f"input {spec.name} takes shape {shape}, got {list(array.shape)}")
    return array


def _fits(shape: tuple[int, ...], model_shape: tuple[int | None, ...]) -> bool:
    if not model_shape:  # unknown rank
        return True
    return len(shape) == len(model_shape) and all(d in (None, a) for d, a in zip(model_shape, shape, strict=True))


# --- responses -----------------------------------------------------------------------------------


def _check_names(wanted: list[str] | None, available: Any) -> None:
    unknown = [name for name in wanted or [] if name not in available]
    if unknown:
        raise RequestError(f"unknown outputs {unknown}; the model gives {list(available)}")


def _tensors(outputs: Outputs, wanted: list[str] | None, body: dict[str, Any]) -> list[dict[str, Any]]:
    _check_names(wanted, outputs)
    asked = {o["name"]: o for o in body.get("outputs") or []}
    return [
        _response_tensor(name, outputs[name], binary.wants_binary(body, asked.get(name))) for name in wanted or outputs
    ]


def _response_tensor(name: str, value: Any, as_bytes: bool = False) -> dict[str, Any]:
    if isinstance(value, list) and value and isinstance(value[0], dict):  # ZipMap: rows of {class: p}
        value = np.asarray([list(row.values()) for row in value], dtype=np.float32)
    array = np.asarray(value)
    datatype = "BYTES" if array.dtype.kind in "OUS" else NUMPY_TO_DATATYPE.get(array.dtype)
    if datatype is None:
        raise RequestError(f"output {name} has type {array.dtype}, which has no v2 datatype", status=422)
    if as_bytes:
        data: Any = binary.to_bytes(array, datatype)
    else:
        data = [str(v) for v in array.ravel()] if datatype == "BYTES" else array.ravel().tolist()
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": data}


def _response(predictor: Predictor, body: dict[str, Any], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    answer: dict[str, Any] = {"model_name": predictor.spec.name, "model_version": predictor.spec.version}
    if "id" in body:
        answer["id"] = body["id"]
    answer["outputs"] = outputs
    return answer


def _tensor_metadata(tensor: TensorSpec) -> dict[str, Any]:
    dtype = tensor.dtype
    if dtype is None:  # sequences of maps (ZipMap) are answered as FP32 [n, n_classes]
        return {"name": tensor.name, "datatype": "FP32", "shape": [-1, -1]}
    datatype = "BYTES" if dtype.kind == "O" else NUMPY_TO_DATATYPE[dtype]
    return {"name": tensor.name, "datatype": datatype, "shape": [d if d is not None else -1 for d in tensor.shape]}
