"""The release gate's verdict and report, from a measured diff."""

import json

import pytest

from onnx_package.errors import ReleaseGateError, SettingsError
from onnx_package.image.release_gate import Diff, Side, enforce, summary_rows
from onnx_package.settings import load_settings


def diff(changed: int) -> Diff:
    changes = [{"request": {"data": [[i]]}, "previous": [1], "new": [0]} for i in range(changed)]
    return Diff(
        Side("sha256:old", 1.2, 3.1, 4.0, 120.5, 300.0),
        Side("sha256:new", 0.9, 2.5, 3.0, 110.0, 280.0),
        30,
        changes,
        changed,
    )


def test_the_gate_reports_only_unless_max_changed_answers_is_set():
    enforce(diff(5), None)
    enforce(diff(5), 5)
    with pytest.raises(ReleaseGateError, match=r"6 of 30 golden answers changed .* more than max-changed-answers 5"):
        enforce(diff(6), 5)


def test_the_diff_output_and_the_summary_say_what_changed():
    found = json.loads(diff(2).to_json())
    assert found["changed_answers"] == 2 and found["requests"] == 30 and len(found["changes"]) == 2
    assert found["previous"] == {
        "image": "sha256:old",
        "ready_seconds": 1.2,
        "p50_ms": 3.1,
        "p95_ms": 4.0,
        "memory_mb": 120.5,
        "size_mb": 300.0,
    }
    rows = summary_rows(diff(2))
    assert "| answers changed |  | 2 of 30 |" in rows and "| p50 / p95 latency | 3.1 / 4.0 ms | 2.5 / 3.0 ms |" in rows


def test_max_changed_answers_is_a_count_or_nothing():
    assert load_settings({}, {}).max_changed_answers is None
    assert load_settings({"max-changed-answers": "0"}, {}).max_changed_answers == 0
    with pytest.raises(SettingsError, match="not a whole number"):
        load_settings({"max-changed-answers": "few"}, {})
