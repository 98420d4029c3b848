"""The model layouts people register, inspected and smoke-tested on the runner (issue 8)."""

from __future__ import annotations

import json

import pytest
from test_inspection import package

from models import (
    make_hub_cache,
    make_minilm_classifier,
    make_multi_input_model,
    make_tabular_classifier,
    make_text_classifier,
    tabular_rows,
)
from onnx_package.errors import ModelError


def zoo_model(tmp_path):
    """ONNX-zoo style: a lone model.onnx, opset 11, input_ids only, output named `output`."""
    folder = make_text_classifier(tmp_path / "zoo", inputs=("input_ids",), with_config=False, opset=11)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).rename(tmp_path / name)
    return folder / "model.onnx"


def test_zoo_model_with_a_hub_tokenizer_from_the_local_cache(tmp_path, monkeypatch):
    model = zoo_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "roberta", "max_position_embeddings": 130}))
    files = ("config.json", "tokenizer.json", "tokenizer_config.json")
    make_hub_cache(tmp_path / "hf", "roberta-base", tmp_path, files)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    inspection, probe = package(
        tmp_path / "run", model, tokenizer="roberta-base", **{"class-labels": "negative,positive"}
    )
    assert inspection.task == "text-classification" and inspection.spec["labels"] == ["negative", "positive"]
    assert probe.answer == {"positive": True}
    assert (tmp_path / "run" / "bundle" / "tokenizer.json").is_file()
    assert inspection.spec["max_length"] == 128  # model_max_length of the cached tokenizer


def test_an_unknown_hub_tokenizer_offline_stops_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="tokenizer 'no-such/tokenizer' could not be loaded") as caught:
        package(tmp_path / "run", zoo_model(tmp_path), tokenizer="no-such/tokenizer")
    assert "Fix:" in str(caught.value) and "\n" not in str(caught.value)


def test_zoo_model_without_a_tokenizer_stops_before_building(tmp_path):
    with pytest.raises(ModelError, match=r"takes input_ids \(a text model\) but no tokenizer came with it") as caught:
        package(tmp_path / "run", zoo_model(tmp_path))
    assert "set the tokenizer input" in str(caught.value)


def test_slow_tokenizer_files_are_converted_to_tokenizer_json(tmp_path):
    folder = make_text_classifier(tmp_path / "hf-export")
    vocab = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]
    (folder / "vocab.txt").write_text("\n".join(sorted(vocab, key=vocab.get)) + "\n")
    (folder / "tokenizer.json").unlink()
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "tokenizer_class": "BertTokenizer"}))
    _, probe = package(tmp_path / "run", folder, sample='["Containers are terrible", "Containers are good"]')
    assert probe.answer == [{"positive": False}, {"positive": True}]


@pytest.mark.parametrize("inputs", [("input_ids", "attention_mask"), ("input_ids", "attention_mask", "token_type_ids")])
def test_hf_export_with_and_without_token_type_ids(tmp_path, inputs):
    _, probe = package(tmp_path, make_text_classifier(tmp_path / "m", inputs=inputs))
    assert probe.answer == {"positive": True}


def test_fixed_sequence_length_pads_to_it(tmp_path):
    inspection, probe = package(tmp_path, make_text_classifier(tmp_path / "m", fixed_length=16))
    assert inspection.spec["max_length"] == 16 and probe.answer == {"positive": True}


def test_multi_class_text_reports_label_and_score(tmp_path):
    model = make_text_classifier(tmp_path / "m", labels=("negative", "positive", "neutral"))
    inspection, probe = package(tmp_path, model, sample='["Containers are okay"]')
    assert inspection.spec["labels"] == ["negative", "positive", "neutral"]
    answer = probe.answer[0] if isinstance(probe.answer, list) else probe.answer
    assert answer["label"] == "neutral" and 0.5 < answer["score"] <= 1.0


@pytest.mark.parametrize("zipmap", [True, False])
def test_sklearn_classifier_with_and_without_zipmap(tmp_path, zipmap):
    rows = tabular_rows("wine", 2)
    inspection, probe = package(
        tmp_path, make_tabular_classifier(tmp_path / "m", zipmap=zipmap), sample=json.dumps({"data": rows})
    )
    assert inspection.task == "tabular" and len(probe.answer) == 2


def test_several_inputs_of_different_dtypes_are_served_as_raw_tensors(tmp_path):
    inspection, probe = package(tmp_path, make_multi_input_model(tmp_path / "m"))
    assert inspection.task == "tensor"
    assert probe.path == "/v2/models/m/infer"
    [output] = probe.answer["outputs"]
    assert output["name"] == "y" and output["data"] == [1.0, 1.0, 1.0]  # zeros * 0 + 1


def test_real_minilm_export_with_its_real_wordpiece_tokenizer(tmp_path):
    inspection, probe = package(
        tmp_path,
        make_minilm_classifier(tmp_path / "minilm"),
        sample='["Containers are good", "Containers are terrible"]',
    )
    assert inspection.task == "text-classification" and inspection.spec["max_length"] == 512
    assert probe.answer == [{"positive": True}, {"positive": False}]
