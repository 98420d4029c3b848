"""Model folders (model + serve.json, as the packager lays them out) and loaded predictors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from onnx_serve.predictor import Predictor
from server_models import make_tensor_model, models, write_spec


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """model_dir(kind) -> a folder for the kinds below, built once per session."""
    made: dict[str, Path] = {}
    text_spec = {"task": "text-classification", "max_length": 128}
    kinds: dict[str, Callable[[Path], Path]] = {
        "text": lambda d: write_spec(
            models.make_text_classifier(d), name="sentiment", labels=["negative", "positive"], **text_spec
        ),
        "text3": lambda d: write_spec(
            models.make_text_classifier(d, labels=("neg", "pos", "meh")),
            name="three",
            labels=["neg", "pos", "meh"],
            **text_spec,
        ),
        "ids-only": lambda d: write_spec(
            models.make_text_classifier(d, inputs=("input_ids",)), name="ids", **text_spec
        ),
        "fixed": lambda d: write_spec(
            models.make_text_classifier(d, fixed_length=16), name="fixed", labels=["negative", "positive"], **text_spec
        ),
        "wine": lambda d: write_spec(models.make_tabular_classifier(d), name="wine", task="tabular"),
        "wine-zipmap": lambda d: write_spec(models.make_tabular_classifier(d, zipmap=True), name="wz", task="tabular"),
        "diabetes": lambda d: write_spec(models.make_tabular_regressor(d), name="diabetes", task="tabular"),
        "tensor": lambda d: write_spec(make_tensor_model(d), name="raw", task="tensor"),
    }

    def get(kind: str) -> Path:
        if kind not in made:
            made[kind] = kinds[kind](tmp_path_factory.mktemp(kind))
        return made[kind]

    return get


@pytest.fixture(scope="session")
def predictor(model_dir: Callable[..., Path]) -> Callable[..., Predictor]:
    """predictor(kind) -> a loaded Predictor, one per kind per session."""
    loaded: dict[str, Predictor] = {}

    def get(kind: str) -> Predictor:
        if kind not in loaded:
            loaded[kind] = Predictor.load(model_dir(kind), threads=1)
        return loaded[kind]

    return get


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
