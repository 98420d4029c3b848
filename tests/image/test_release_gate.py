"""The release gate, end to end: a second version of a model pushed over a first is compared with it on the golden
set (the diff output and the summary say what changed), and max-changed-answers stops the push."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest
from sklearn.datasets import load_wine

from cli_runs import package_local
from golden import write_lines
from models import make_tabular_classifier

pytestmark = pytest.mark.engine


def favouring_class_0(source: Path, dest: Path) -> Path:
    """The same classifier with class 0's intercept raised: rows of the other classes now get class 0."""
    shutil.copytree(source, dest)
    model = onnx.load(str(dest / "model.onnx"))
    node = next(n for n in model.graph.node if n.op_type == "LinearClassifier")
    intercepts = next(a for a in node.attribute if a.name == "intercepts")
    intercepts.floats[0] += 25.0
    onnx.save(model, str(dest / "model.onnx"))
    return dest


def test_a_new_version_is_compared_with_the_previous_image_and_the_gate_stops_the_push(
    tmp_path, registry, base_image, docker_client, docker_cleanup
):
    repo = f"{docker_cleanup.prefix}/wine"
    rows = [[float(v) for v in row] for row in load_wine().data[::6]]  # 30 rows of all three classes
    samples = write_lines(tmp_path / "golden.jsonl", [{"data": [row]} for row in rows])
    first = make_tabular_classifier(tmp_path / "v1")
    second = favouring_class_0(first, tmp_path / "v2")

    def package(model: Path, version: str, *extra: str):
        folder = tmp_path / f"run-{version}"
        folder.mkdir()
        run = package_local(
            folder,
            model,
            *extra,
            model_name="wine",
            model_version=version,
            images=f"{registry.host}/{repo}",
            tags=version,
            samples=samples,
            base_image=base_image,
        )
        docker_cleanup.image(f"{registry.host}/{repo}:{version}")
        return run

    run = package(first, "1")
    assert run.code == 0, run.stderr
    assert run.outputs["diff"] == ""  # nothing to compare with yet

    run = package(second, "2")
    assert run.code == 0, run.stderr
    diff = json.loads(run.outputs["diff"])
    assert 0 < diff["changed_answers"] < diff["requests"] == 30
    change = diff["changes"][0]
    assert change["request"] in [{"data": [row]} for row in rows] and change["previous"] != change["new"]
    for side in ("previous", "new"):
        facts = diff[side]
        assert facts["p50_ms"] > 0 and facts["p95_ms"] >= facts["p50_ms"] and facts["ready_seconds"] > 0
        assert facts["memory_mb"] > 0 and facts["size_mb"] > 0
    assert diff["new"]["image"] == run.outputs["image-id"] != diff["previous"]["image"]
    assert f"{diff['changed_answers']} of 30 answers changed" in run.stderr
    assert registry.manifest_digest(repo, "2") == run.outputs["digest"]

    # Version 3 goes back to the first model's answers: against version 2 they change, and the gate holds.
    run = package(first, "3", "--max-changed-answers", "0")
    assert run.code == 1 and "Release gate failed" in run.stderr and "more than max-changed-answers 0" in run.stderr
    assert json.loads(run.outputs["diff"])["changed_answers"] == diff["changed_answers"]
    assert registry.manifest_digest(repo, "3") is None  # nothing pushed
