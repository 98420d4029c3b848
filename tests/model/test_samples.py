"""The golden set (samples input): the line format, the errors that name the line, and the smoke test over it."""

from __future__ import annotations

import json
import os

import pytest

from models import make_text_classifier
from onnx_package.errors import SettingsError, SmokeTestError
from onnx_package.model.bundle import assemble_bundle
from onnx_package.model.inspection import inspect_model
from onnx_package.model.samples import Sample, load_samples
from onnx_package.model.smoke import smoke_samples
from onnx_package.settings import load_settings
from onnx_package.sources import fetch


def settings_for(tmp_path, text: str, **inputs):
    (tmp_path / "golden.jsonl").write_text(text)
    environ = {**os.environ, "GITHUB_WORKSPACE": str(tmp_path)}
    return load_settings({"model-source": "local", "samples": "golden.jsonl", **inputs}, environ)


def test_bare_requests_and_request_expected_objects_relative_to_the_workspace(tmp_path):
    text = (
        '["Containers are good"]\n\n'
        '{"request": ["Containers are terrible"], "expected": {"positive": false}}\n'
        '{"data": [[1.0, 2.0]]}\n'
    )
    samples = load_samples(settings_for(tmp_path, text, sample='["first"]'))
    assert samples == [
        Sample(0, ["first"]),
        Sample(1, ["Containers are good"]),
        Sample(3, ["Containers are terrible"], {"positive": False}),
        Sample(4, {"data": [[1.0, 2.0]]}),
    ]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('["ok"]\n["ok"]\n{"request": ["x"}\n', "samples line 3 is not JSON"),
        ("\n  \n", "holds no requests"),
        ('{"request": ["x"], "expect": true}\n', "samples line 1 has keys ['expect']"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_line_with_the_fix(tmp_path, text, names):
    with pytest.raises(SettingsError) as caught:
        load_samples(settings_for(tmp_path, text))
    assert names in caught.value.cause and "\n" not in str(caught.value)
    assert "one JSON request per line" in caught.value.fix


def test_a_missing_file_names_the_path(tmp_path):
    settings = load_settings({"samples": str(tmp_path / "nope.jsonl")}, {})
    with pytest.raises(SettingsError, match=r"nope\.jsonl cannot be read"):
        load_samples(settings)


def bundle_of(tmp_path, settings):
    (tmp_path / "source").mkdir()
    model = fetch(settings, tmp_path / "source")
    inspection = inspect_model(
        settings, model, tmp_path / "bundle", assemble_bundle(settings, model, tmp_path / "bundle")
    )
    return inspection, tmp_path / "bundle"


def test_every_sample_is_answered_and_a_wrong_expected_names_its_line(tmp_path):
    model = make_text_classifier(tmp_path / "m")
    lines = [
        ["Containers are good"],
        {"request": ["Containers are terrible"], "expected": {"positive": False}},
        {"request": {"inputs": ["images are great", "builds are slow"]}},
    ]
    settings = settings_for(tmp_path, "".join(json.dumps(line) + "\n" for line in lines), **{"model-path": str(model)})
    inspection, bundle = bundle_of(tmp_path, settings)
    probes = smoke_samples(inspection, bundle, load_samples(settings))
    assert [p.answer for p in probes[:2]] == [{"positive": True}, {"positive": False}]
    assert [item["label"] for item in probes[2].answer] == ["positive", "negative"]

    wrong = {"request": ["Containers are terrible"], "expected": {"positive": True}}
    bad = settings_for(tmp_path, '["Containers are good"]\n' + json.dumps(wrong) + "\n", **{"model-path": str(model)})
    with pytest.raises(SmokeTestError, match="to the samples line 2"):
        smoke_samples(inspection, bundle, load_samples(bad))
