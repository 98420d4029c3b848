"""Inspect + smoke test on the runner, with real models (no Docker engine)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import onnx
import pytest

from models import (
    corrupt_model,
    make_tabular_classifier,
    make_tabular_regressor,
    make_text_classifier,
    tabular_rows,
)
from onnx_package.errors import ModelError, SmokeTestError
from onnx_package.model.bundle import assemble_bundle
from onnx_package.model.inspection import inspect_model
from onnx_package.model.smoke import smoke_test
from onnx_package.settings import load_settings
from onnx_package.sources import fetch


def package(tmp_path, model_path, **inputs):
    """Fetch, bundle, inspect and smoke-test as the pipeline does; returns (inspection, probe)."""
    settings = load_settings({"model-source": "local", "model-path": str(model_path), **inputs}, dict(os.environ))
    (tmp_path / "source").mkdir(parents=True)
    model = fetch(settings, tmp_path / "source")
    has_tokenizer = assemble_bundle(settings, model, tmp_path / "bundle")
    inspection = inspect_model(settings, model, tmp_path / "bundle", has_tokenizer)
    return inspection, smoke_test(settings, inspection, tmp_path / "bundle")


def test_text_model_with_tokenizer_is_text_classification(tmp_path):
    model = make_text_classifier(tmp_path / "m")
    inspection, probe = package(tmp_path, model, expected='{"positive": true}')
    assert inspection.task == "text-classification"
    assert inspection.spec["labels"] == ["negative", "positive"]
    assert inspection.spec["max_length"] == 128  # max_position_embeddings of the tiny BERT
    assert probe.path == "/predict" and probe.answer == {"positive": True}
    written = json.loads((tmp_path / "bundle" / "serve.json").read_text())
    assert written == inspection.spec
    assert sorted(p.name for p in (tmp_path / "bundle").iterdir()) == [
        "config.json",
        "model.onnx",
        "serve.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]


def test_onnx_zoo_signature_input_ids_only(tmp_path):
    model = make_text_classifier(tmp_path / "m", inputs=("input_ids",))
    inspection, probe = package(tmp_path, model, sample='["Containers are terrible"]')
    assert [t.name for t in inspection.inputs] == ["input_ids"]
    assert probe.answer == {"positive": False}


def test_class_labels_input_must_match_the_model(tmp_path):
    model = make_text_classifier(tmp_path / "m", with_config=False)
    inspection, _ = package(tmp_path, model, **{"class-labels": "bad,good"})
    assert inspection.spec["labels"] == ["bad", "good"]
    with pytest.raises(ModelError, match="3 labels"):
        package(tmp_path / "again", model, **{"class-labels": "a,b,c"})


def test_tabular_classifier_answers_like_onnxruntime(tmp_path):
    import onnxruntime as ort

    model = make_tabular_classifier(tmp_path / "m")
    rows = tabular_rows("wine", 4)
    inspection, probe = package(tmp_path, model / "model.onnx", sample=json.dumps({"data": rows}))
    assert inspection.task == "tabular"
    want = ort.InferenceSession(str(model / "model.onnx")).run(None, {"float_input": np.array(rows, np.float32)})[0]
    assert [a["label"] if isinstance(a, dict) else a for a in probe.answer] == want.tolist()


def test_tabular_sample_is_generated_from_the_signature(tmp_path):
    inspection, probe = package(tmp_path, make_tabular_regressor(tmp_path / "m"))
    assert inspection.task == "tabular"
    assert probe.body == {"data": [[0.0] * inspection.inputs[0].fixed_dims[1]]}
    assert isinstance(probe.answer, list) and len(probe.answer) == 1


def test_corrupt_model_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match=r"model\.onnx is not a valid ONNX model") as caught:
        package(tmp_path, corrupt_model(tmp_path / "m"))
    assert "Fix:" in str(caught.value)


def test_expected_mismatch_stops(tmp_path):
    with pytest.raises(SmokeTestError, match="expected"):
        package(tmp_path, make_text_classifier(tmp_path / "m"), expected='{"positive": false}')


def test_sample_that_does_not_fit_stops(tmp_path):
    with pytest.raises(SmokeTestError, match="rejects the sample"):
        package(tmp_path, make_tabular_classifier(tmp_path / "m"), sample='{"data": [[1.0, 2.0]]}')


def test_text_sample_without_tokenizer_stops(tmp_path):
    with pytest.raises(SmokeTestError, match="no tokenizer"):
        package(tmp_path, make_tabular_classifier(tmp_path / "m"), sample='["Containers are good"]')


def test_several_onnx_files_need_model_file(tmp_path):
    model = make_tabular_classifier(tmp_path / "m")
    (model / "nested").mkdir()
    shutil.copy(model / "model.onnx", model / "nested" / "other.onnx")
    with pytest.raises(ModelError, match=r"several \.onnx files: model\.onnx, nested/other\.onnx"):
        package(tmp_path, model)
    inspection, _ = package(tmp_path / "again", model, **{"model-file": "nested/other.onnx"})
    assert inspection.spec["model_file"] == "other.onnx"


def test_external_data_travels_with_the_model(tmp_path):
    source = make_text_classifier(tmp_path / "m")
    proto = onnx.load(str(source / "model.onnx"))
    onnx.save_model(
        proto,
        str(source / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx.data",
        size_threshold=0,
    )
    _, probe = package(tmp_path, source / "model.onnx")
    assert (tmp_path / "bundle" / "model.onnx.data").is_file()
    assert probe.answer == {"positive": True}
    (source / "model.onnx.data").unlink()
    with pytest.raises(ModelError, match=r"stores weights in model.onnx.data, which is missing"):
        package(tmp_path / "again", source / "model.onnx")
