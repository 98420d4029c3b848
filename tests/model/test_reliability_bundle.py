"""The bundle keeps what the model says about itself, whatever else the inputs bring."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from models import make_hub_cache, make_text_classifier
from onnx_package.model.bundle import assemble_bundle
from onnx_package.model.inspection import inspect_model
from onnx_package.model.smoke import smoke_test
from onnx_package.settings import load_settings
from onnx_package.sources import fetch

pytestmark = pytest.mark.reliability

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def test_a_hub_tokenizer_keeps_the_labels_of_the_models_own_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_text_classifier(tmp_path / "model", labels=("neg", "pos", "meh"))  # config.json: id2label
    hub = tmp_path / "hub-files"
    hub.mkdir()
    for name in TOKENIZER_FILES:
        (model / name).rename(hub / name)
    (hub / "config.json").write_text(json.dumps({"model_type": "bert"}))  # the base model's: no labels
    make_hub_cache(tmp_path / "hf", "org/tokenizer", hub, ("config.json", *TOKENIZER_FILES))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = load_settings(
        {
            "model-source": "local",
            "model-path": str(model),
            "tokenizer": "org/tokenizer",
            "sample": '{"inputs": ["Containers are good"]}',
        },
        dict(os.environ),
    )
    (tmp_path / "run" / "source").mkdir(parents=True)
    fetched = fetch(settings, tmp_path / "run" / "source")
    bundle = tmp_path / "run" / "bundle"
    inspection = inspect_model(settings, fetched, bundle, assemble_bundle(settings, fetched, bundle))
    assert inspection.spec["labels"] == ["neg", "pos", "meh"]
    assert smoke_test(settings, inspection, bundle).answer[0]["label"] == "pos"
