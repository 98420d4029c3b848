"""Models and model folders that must never become an image: each is made in milliseconds with onnx.helper.

Each factory writes into `dest` (created) and returns the path to give as model-path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import NodeProto, TensorProto, ValueInfoProto, helper, save_model

MODEL = "model.onnx"


def _save(
    dest: Path,
    nodes: list[NodeProto],
    inputs: list[ValueInfoProto],
    outputs: list[ValueInfoProto],
    initializers: list[TensorProto] | None = None,
    opset: int = 17,
    name: str = MODEL,
) -> Path:
    graph = helper.make_graph(nodes, "bad", inputs, outputs, initializers or [])
    dest.mkdir(parents=True, exist_ok=True)
    save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8), dest / name)
    return dest


def _float(name: str, shape: list[str | int]) -> ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def identity_model(dest: Path, name: str = MODEL) -> Path:
    """A valid tabular model: y = x, x float [batch, 4]."""
    return _save(
        dest,
        [helper.make_node("Identity", ["x"], ["y"])],
        [_float("x", ["batch", 4])],
        [_float("y", ["batch", 4])],
        name=name,
    )


def empty_model(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / MODEL).write_bytes(b"")
    return dest


def not_onnx_folder(dest: Path) -> Path:
    """What a training run leaves behind: a checkpoint and a README, no .onnx file."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "pytorch_model.bin").write_bytes(b"PK\x03\x04 a torch checkpoint, not ONNX")
    (dest / "README.md").write_text("# my model\n")
    return dest


def two_models(dest: Path) -> Path:
    identity_model(dest, "a.onnx")
    return identity_model(dest, "b.onnx")


def string_input_model(dest: Path) -> Path:
    """Takes raw strings (a model with the tokenizer inside): the server has no way to feed it."""
    text = helper.make_tensor_value_info("text", TensorProto.STRING, ["batch"])
    out = helper.make_tensor_value_info("same", TensorProto.STRING, ["batch"])
    return _save(dest, [helper.make_node("Identity", ["text"], ["same"])], [text], [out])


def token_ids_model(dest: Path) -> Path:
    """A text model's signature (input_ids int64) with no tokenizer beside it."""
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "sequence"])
    return _save(dest, [helper.make_node("Cast", ["input_ids"], ["logits"], to=TensorProto.FLOAT)], [ids], [logits])


def unknown_operator_model(dest: Path) -> Path:
    """An operator onnxruntime has never heard of (a custom op exported without its library)."""
    node = helper.make_node("FancyAttention", ["x"], ["y"], domain="com.example")
    graph = helper.make_graph([node], "bad", [_float("x", ["batch", 4])], [_float("y", ["batch", 4])])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)], ir_version=8
    )
    dest.mkdir(parents=True, exist_ok=True)
    save_model(model, dest / MODEL)
    return dest


def nan_model(dest: Path) -> Path:
    """y = x / x: NaN on the all-zero probe input."""
    return _save(
        dest, [helper.make_node("Div", ["x", "x"], ["y"])], [_float("x", ["batch", 4])], [_float("y", ["batch", 4])]
    )


def missing_external_data_model(dest: Path) -> Path:
    """Weights stored beside the model in weights.bin, which did not make the upload."""
    weights = helper.make_tensor("w", TensorProto.FLOAT, [4], np.arange(4, dtype=np.float32).tobytes(), raw=True)
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "w"], ["y"])],
        "bad",
        [_float("x", ["batch", 4])],
        [_float("y", ["batch", 4])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    dest.mkdir(parents=True, exist_ok=True)
    save_model(model, dest / MODEL, save_as_external_data=True, location="weights.bin", size_threshold=0)
    (dest / "weights.bin").unlink(missing_ok=True)
    return dest
