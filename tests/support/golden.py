"""Golden sets and a model made to fail the int8 gate, shared by the optimize tests (unit and end to end)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models import _CLASS_WORDS, _SUBJECTS


def golden_texts(n: int) -> list[str]:
    """n texts in the classifier's vocabulary, with words it was not trained on mixed in."""
    rng = random.Random(16)
    words = [w for group in _CLASS_WORDS[:2] for w in group]
    extra = ["the", "deploy", "weather", "and", "but", "very", "not", "yesterday"]
    return [
        " ".join(
            [
                rng.choice(_SUBJECTS),
                rng.choice(["are", "were", "seem"]),
                rng.choice(words),
                *rng.sample(extra, rng.randint(0, 4)),
            ]
        )
        for _ in range(n)
    ]


def write_lines(path: Path, requests: list[Any]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in requests))
    return str(path)


def make_tied_classifier(dest: Path, features: int = 64) -> str:
    """A linear classifier whose two logits differ by a hair: int8 weights cannot keep the difference."""
    rng = np.random.default_rng(0)
    first = rng.normal(size=(features, 1)).astype(np.float32)
    weights = np.concatenate([first, first + rng.normal(scale=1e-4, size=(features, 1)).astype(np.float32)], 1)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["float_input", "W"], ["logits"])],
        "tied",
        [helper.make_tensor_value_info("float_input", TensorProto.FLOAT, [None, features])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 2])],
        [numpy_helper.from_array(weights, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    dest.mkdir()
    onnx.save(model, str(dest / "model.onnx"))
    return str(dest / "model.onnx")
