"""Helpers for the server tests: serve.json next to a model, a raw-tensor model, sample rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper
from starlette.applications import Starlette
from tokenizers import Tokenizer

import models
from onnx_serve.spec import ServeSpec

WINE_ROWS = models.tabular_rows("wine", 3)
DIABETES_ROWS = models.tabular_rows("diabetes", 2)


def write_spec(model_dir: Path, **fields: Any) -> Path:
    """serve.json written by the server's own ServeSpec, as the packager writes it."""
    labels = fields.pop("labels", None)
    ServeSpec(**{"name": "model", "version": "1", **fields}, labels=tuple(labels) if labels else None).write(model_dir)
    return model_dir


def make_tensor_model(dest: Path) -> Path:
    """Two inputs with a dynamic batch axis: scaled = x * 2 (float [N, 3]); ids_sum = sum(ids) (int64 [N, 4])."""
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "two"], ["scaled"]),
            helper.make_node("ReduceSum", ["ids", "axes"], ["ids_sum"], keepdims=0),
        ],
        "tensor",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 4]),
        ],
        [
            helper.make_tensor_value_info("scaled", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("ids_sum", TensorProto.INT64, ["N"]),
        ],
        [
            helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
            helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    dest.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dest / "model.onnx"))
    return dest


@asynccontextmanager
async def serving(app: Starlette, raise_errors: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the app, in process, after startup (model warmed up) and until shutdown."""
    async with app.router.lifespan_context(app):
        await app.state.service.wait_ready()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_errors)
        async with httpx.AsyncClient(transport=transport, base_url="http://onnx-serve") as client:
            yield client


def reference_probabilities(model_dir: Path, texts: list[str]) -> np.ndarray:
    """What onnxruntime itself says for each text, one at a time: tokenizer, session.run, softmax."""
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    session = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    rows = []
    for text in texts:
        encoding = tokenizer.encode(text)
        values = {
            "input_ids": encoding.ids,
            "attention_mask": encoding.attention_mask,
            "token_type_ids": encoding.type_ids,
        }
        feeds = {i.name: np.asarray([values[i.name]], dtype=np.int64) for i in session.get_inputs()}
        logits = session.run(None, feeds)[0][0].astype(np.float64)
        rows.append(np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum())
    return np.asarray(rows)


def reference_outputs(model_dir: Path, rows: list[list[float]]) -> dict[str, np.ndarray]:
    """The tabular model's outputs from onnxruntime itself, for FP32 rows."""
    session = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    values = session.run(None, {session.get_inputs()[0].name: np.asarray(rows, dtype=np.float32)})
    return {o.name: v for o, v in zip(session.get_outputs(), values, strict=True)}
