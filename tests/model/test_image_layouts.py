"""Each model layout people register packages into an image that serves it (issue 8).

`push: false`: the container check runs the built image read-only and requires the runner's answer,
which is what this tier proves; pushing is covered by test_package.py.
"""

from __future__ import annotations

import json

import pytest

from cli_runs import run_cli
from models import (
    make_hub_cache,
    make_minilm_classifier,
    make_multi_input_model,
    make_tabular_classifier,
    make_tabular_regressor,
    make_text_classifier,
    tabular_rows,
)

pytestmark = pytest.mark.engine


def zoo_with_hub_tokenizer(tmp_path):
    """ONNX-zoo RoBERTa style (lone .onnx, opset 11, input_ids -> output) + a tokenizer by Hub id."""
    folder = make_text_classifier(tmp_path / "roberta", inputs=("input_ids",), with_config=False, opset=11)
    (folder / "config.json").write_text(json.dumps({"model_type": "roberta"}))
    make_hub_cache(tmp_path / "hf", "roberta-base", folder, ("config.json", "tokenizer.json", "tokenizer_config.json"))
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    args = [
        "--model-path",
        str(folder / "model.onnx"),
        "--tokenizer",
        "roberta-base",
        "--class-labels",
        "negative,positive",
        "--expected",
        '{"positive": true}',
    ]
    return args, {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}


def hf_export_fixed_length(tmp_path):
    folder = make_text_classifier(tmp_path / "bert", inputs=("input_ids", "attention_mask"), fixed_length=24)
    sample = {"inputs": ["Containers are terrible", "Containers are good"]}
    return ["--model-path", str(folder), "--sample", json.dumps(sample)], {}


def external_data(tmp_path):
    import onnx

    folder = make_text_classifier(tmp_path / "big")
    onnx.save_model(
        onnx.load(str(folder / "model.onnx")),
        str(folder / "model.onnx"),
        save_as_external_data=True,
        location="weights.bin",
        size_threshold=0,
    )
    return ["--model-path", str(folder), "--expected", '{"positive": true}'], {}


def real_minilm(tmp_path):
    return ["--model-path", str(make_minilm_classifier(tmp_path / "minilm")), "--expected", '{"positive": true}'], {}


def zipmap_classifier(tmp_path):
    folder = make_tabular_classifier(tmp_path / "wine", zipmap=True)
    return ["--model-path", str(folder), "--sample", json.dumps({"data": tabular_rows("wine", 2)})], {}


def regressor(tmp_path):
    return ["--model-path", str(make_tabular_regressor(tmp_path / "diabetes"))], {}


def multi_input(tmp_path):
    return ["--model-path", str(make_multi_input_model(tmp_path / "pair"))], {}


LAYOUTS = [
    zoo_with_hub_tokenizer,
    hf_export_fixed_length,
    real_minilm,
    external_data,
    zipmap_classifier,
    regressor,
    multi_input,
]


@pytest.mark.parametrize("layout", LAYOUTS, ids=[layout.__name__ for layout in LAYOUTS])
def test_layout_is_served_by_its_image(tmp_path, layout, base_image, docker_client):
    args, env = layout(tmp_path)
    run = run_cli(tmp_path, "--model-source", "local", *args, "--push", "false", "--base-image", base_image, env=env)
    assert run.code == 0, run.stderr
    assert "answers match the runner's" in run.stderr
    docker_client.images.remove(run.outputs["image-id"], force=True)
