"""optimize and quantize on real models with real onnxruntime: what is served, and the numbers that decide it."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest

from golden import golden_texts, make_tied_classifier, write_lines
from models import make_tabular_classifier, make_text_classifier, tabular_rows
from onnx_package.errors import QualityGateError
from onnx_package.model.bundle import assemble_bundle
from onnx_package.model.inspection import inspect_model
from onnx_package.model.optimize import improve_model, sha256_of
from onnx_package.model.samples import load_samples
from onnx_package.model.smoke import reanswer, smoke_samples
from onnx_package.report import Reporter
from onnx_package.settings import load_settings
from onnx_package.sources import fetch


def prepare(tmp_path, model, requests, **inputs):
    """Fetch, bundle, inspect and smoke-test the golden set as the pipeline does."""
    samples = write_lines(tmp_path / "golden.jsonl", requests)
    settings = load_settings(
        {"model-source": "local", "model-path": str(model), "samples": samples, **inputs}, dict(os.environ)
    )
    (tmp_path / "source").mkdir()
    fetched = fetch(settings, tmp_path / "source")
    bundle = tmp_path / "bundle"
    inspection = inspect_model(settings, fetched, bundle, assemble_bundle(settings, fetched, bundle))
    return settings, inspection, bundle, smoke_samples(inspection, bundle, load_samples(settings))


def improve(tmp_path, settings, inspection, bundle, probes):
    return improve_model(settings, inspection, bundle, probes, tmp_path / "work", Reporter())


def test_a_text_encoder_is_fused_checked_and_served_with_its_own_sha256(tmp_path):
    model = make_text_classifier(tmp_path / "m")
    users_file = sha256_of(model / "model.onnx")
    texts = golden_texts(40)
    settings, inspection, bundle, probes = prepare(tmp_path, model, [[t] for t in texts])
    assert os.stat(bundle / "model.onnx").st_ino == os.stat(model / "model.onnx").st_ino  # linked, not copied
    [trial] = improve(tmp_path, settings, inspection, bundle, probes)
    assert sha256_of(model / "model.onnx") == users_file  # the optimized file replaced the link, not its bytes
    assert trial.kind == "optimize" and trial.served, trial.describe()
    assert trial.fused.get("SkipLayerNormalization") and trial.fused.get("BiasGelu"), trial.fused
    assert trial.decisions == 40 and trial.agreement == 1.0 and trial.max_abs_diff < 1e-4
    spec = json.loads((bundle / "serve.json").read_text())
    original = sha256_of(model / "model.onnx")
    assert spec["sha256"] == original and inspection.spec["sha256"] == original
    assert spec["served_sha256"] == sha256_of(bundle / "model.onnx") != original
    ops = {node.op_type for node in onnx.load(str(bundle / "model.onnx")).graph.node}
    assert "SkipLayerNormalization" in ops and "LayerNormalization" not in ops
    assert [p.answer for p in reanswer(bundle, probes)] == [p.answer for p in probes]


def test_a_tabular_model_is_optimized_and_its_decisions_compared_row_by_row(tmp_path):
    model = make_tabular_classifier(tmp_path / "wine")
    rows = tabular_rows("wine", 30)
    settings, inspection, bundle, probes = prepare(
        tmp_path, model / "model.onnx", [{"data": rows[i : i + 3]} for i in range(0, 30, 3)]
    )
    [trial] = improve(tmp_path, settings, inspection, bundle, probes)
    assert trial.served and trial.decisions == 30 and trial.agreement == 1.0, trial.describe()
    assert trial.fused == {} and trial.max_abs_diff < 1e-4
    assert [p.answer for p in reanswer(bundle, probes)] == [p.answer for p in probes]


def test_optimize_false_serves_the_original_file(tmp_path):
    model = make_text_classifier(tmp_path / "m")
    settings, inspection, bundle, probes = prepare(tmp_path, model, [["Containers are good"]], optimize="false")
    assert improve(tmp_path, settings, inspection, bundle, probes) == []
    assert sha256_of(bundle / "model.onnx") == sha256_of(model / "model.onnx") == inspection.spec["served_sha256"]


def test_int8_of_a_text_classifier_passes_the_gate_on_200_texts(tmp_path):
    model = make_text_classifier(tmp_path / "m", layers=2, hidden=128)
    texts = golden_texts(240)
    requests = [{"request": {"inputs": texts[i : i + 8]}} for i in range(0, 240, 8)]
    settings, inspection, bundle, probes = prepare(tmp_path, model, requests, quantize="int8")
    optimized, int8 = improve(tmp_path, settings, inspection, bundle, probes)
    print(optimized.describe(), int8.describe(), sep="\n")  # the numbers, in the test log
    assert optimized.served and int8.served and int8.decisions == 240
    assert int8.agreement >= 0.99 and 0 < int8.max_abs_diff < 0.5
    assert int8.size_after < int8.size_before / 2 and int8.speedup > 0
    ops = {node.op_type for node in onnx.load(str(bundle / "model.onnx")).graph.node}
    assert ops & {"DynamicQuantizeMatMul", "MatMulInteger", "QAttention"}, ops
    assert inspection.spec["served_sha256"] == sha256_of(bundle / "model.onnx") != inspection.spec["sha256"]


def test_int8_that_flips_decisions_stops_the_run_with_the_numbers(tmp_path):
    model = make_tied_classifier(tmp_path / "tied")
    rows = np.random.default_rng(1).normal(size=(200, 64)).round(4).tolist()
    requests = [{"data": rows[i : i + 10]} for i in range(0, 200, 10)]
    settings, inspection, bundle, probes = prepare(tmp_path, model, requests, quantize="int8")
    with pytest.raises(QualityGateError) as caught:
        improve(tmp_path, settings, inspection, bundle, probes)
    cause = caught.value.cause
    assert "of 200 class decisions" in cause and "below min-agreement 0.99" in cause and "kB ->" in cause, cause
    assert "min-agreement" in caught.value.fix and "quantize: none" in caught.value.fix
    assert sha256_of(bundle / "model.onnx") == sha256_of(tmp_path / "tied" / "model.onnx")  # nothing replaced
