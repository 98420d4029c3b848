"""The `/predict` contract, transport-free (docs/ARCHITECTURE.md).

    predict(predictor, ["Containers are good"])        # -> {"positive": True}   (2-label text model)
    predict(predictor, {"inputs": ["a", "b"]})          # -> [{"label", "score", "scores"}, ...]
    predict(predictor, {"data": [[5.1, 3.5, 1.4, 0.2]]})  # -> [0]  (tabular: one prediction per row)

`predict` is what POST /predict answers and what the packager's smoke test calls. The server splits
it in two so that the batcher can run between: `call = parse_predict(...)`, run `call.job`,
`call.render(result)`. Bad bodies raise `RequestError` (4xx). The v2 protocol lives in `onnx_serve.v2`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import RequestError
from .predictor import Job, Outputs, Predictor, Rows, Texts
from .spec import TEXT_TASK

TEXT_FORMS = 'a JSON list of strings (["some text"]) or {"inputs": ["some text", ...]}'
TABLE_FORM = '{"data": [[feature, ...], ...]}'


@dataclass(frozen=True)
class Call:
    """One parsed request: the job to run and how to turn its result into the JSON answer."""

    job: Job
    render: Callable[[Any], Any]


def predict(predictor: Predictor, body: Any) -> Any:
    """The JSON answer of POST /predict for a parsed JSON body."""
    call = parse_predict(predictor, body)
    return call.render(predictor.run_batch([call.job])[0])


def parse_predict(predictor: Predictor, body: Any, max_items: int | None = None) -> Call:
    task = predictor.spec.task
    if task == TEXT_TASK:
        call = _text_call(predictor, body)
    elif task == "tabular":
        call = Call(rows_job(predictor, _table_data(body)), _render_rows)
    else:
        raise RequestError(f"this model takes raw tensors: POST /v2/models/{predictor.spec.name}/infer")
    check_items(call.job, max_items)
    return call


def check_items(job: Job, max_items: int | None) -> None:
    if len(job) == 0:
        raise RequestError("the request holds no items: send at least one")
    if max_items is not None and len(job) > max_items:
        raise RequestError(
            f"the request holds {len(job)} items, more than the limit of {max_items} "
            "(split it, or raise ONNX_SERVE_MAX_REQUEST_ITEMS)",
            status=413,
        )


# --- text --------------------------------------------------------------------------------------


def _text_call(predictor: Predictor, body: Any) -> Call:
    if isinstance(body, list):  # the tutorial's form
        texts = text_list(body, "the body")
        return Call(Texts(texts), lambda probs: _render_tutorial(predictor, probs))
    if isinstance(body, dict) and ("inputs" in body or "data" in body):
        key = "inputs" if "inputs" in body else "data"
        texts = text_list(body[key], f'"{key}"')
        return Call(Texts(texts), lambda probs: [_scored(predictor, row) for row in probs])
    raise RequestError(f"a text model takes {TEXT_FORMS}, got {_describe(body)}")


def text_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RequestError(f"{where} must be a list of strings, got {_describe(value)}; send {TEXT_FORMS}")
    return [encodable(item, where) for item in value]


def encodable(text: str, where: str) -> str:
    """JSON may carry lone UTF-16 surrogates (\\ud800), which no tokenizer can take."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise RequestError(f"{where} holds text that is not valid Unicode ({e.reason} at {e.start})") from e
    return text


def _render_tutorial(predictor: Predictor, probs: np.ndarray) -> Any:
    """{"positive": bool} per text for 2-label models, else {"label", "score"}; one text -> one object."""
    if probs.shape[1] == 2:
        answers: list[dict[str, Any]] = [{"positive": second > first} for first, second in probs.tolist()]
    else:
        answers = [{"label": a["label"], "score": a["score"]} for a in (_scored(predictor, row) for row in probs)]
    return answers[0] if len(answers) == 1 else answers


def _scored(predictor: Predictor, row: np.ndarray) -> dict[str, Any]:
    labels = predictor.label_names(len(row))
    best = int(row.argmax())
    return {
        "label": labels[best],
        "score": float(row[best]),
        "scores": {label: float(p) for label, p in zip(labels, row, strict=True)},
    }


# --- tabular -------------------------------------------------------------------------------------


def _table_data(body: Any) -> Any:
    if not isinstance(body, dict) or "data" not in body:
        raise RequestError(f"a tabular model takes {TABLE_FORM}, got {_describe(body)}")
    return body["data"]


def rows_job(predictor: Predictor, data: Any) -> Rows:
    """A [n, n_features] float matrix in the model's dtype, or a RequestError saying what is wrong."""
    x = numeric_array(data, "data", allowed_kinds="biuf")
    features = predictor.feature_count
    if x.ndim != 2 or x.shape[1] == 0 or (features is not None and x.shape[1] != features):
        expected = f"[n_rows, {features or 'n_features'}]"
        raise RequestError(f"data must be a matrix {expected} ({TABLE_FORM}), got shape {list(x.shape)}")
    x = x.astype(predictor.feature_dtype or np.float32, copy=False)
    if not np.isfinite(x).all():
        raise RequestError(f"data must hold finite numbers within {x.dtype.name}, got NaN, infinity or an overflow")
    return Rows(x)


def _render_rows(outputs: Outputs) -> list[Any]:
    """One prediction per row: the model's first output (a label or a value)."""
    return json_rows(next(iter(outputs.values())))


def json_rows(value: Any) -> list[Any]:
    if isinstance(value, np.ndarray):
        if value.ndim == 2 and value.shape[1] == 1:
            value = value[:, 0]
        return list(value.tolist())
    return list(value)


# --- shared --------------------------------------------------------------------------------------


def numeric_array(data: Any, where: str, allowed_kinds: str) -> np.ndarray:
    """np.asarray that refuses ragged lists, strings, nulls and out-of-range integers."""
    try:
        array = np.asarray(data)
    except (ValueError, TypeError) as e:
        raise RequestError(f"{where} must be a rectangular array of numbers: {e}") from e
    if array.size and array.dtype.kind not in allowed_kinds:
        wanted = {"b": "booleans", "biu": "integers"}.get(allowed_kinds, "numbers")
        found = {"U": "strings", "O": "nulls, objects or huge integers", "f": "fractions"}.get(array.dtype.kind, "")
        raise RequestError(f"{where} must hold only {wanted}, got {found or array.dtype.name}")
    return array


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:80]}{'…' if len(text) > 80 else ''}"
