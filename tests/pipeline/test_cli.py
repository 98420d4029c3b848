"""The CLI's one place for failures: one line, and the traceback only when debugging."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def run_cli(**env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in ("RUNNER_DEBUG", "ONNX_PACKAGE_DEBUG") and not key.startswith(("GITHUB_", "INPUT_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "onnx_package.cli", "--model-source", "s3"],
        capture_output=True,
        text=True,
        env={**environ, **env},
        timeout=60,
    )


def test_a_bad_input_is_one_line_without_a_traceback():
    done = run_cli()
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: Invalid input: model-source is 's3'. Fix: set model-source to one of: azureml, local, url"
    ]


@pytest.mark.parametrize("debug", [{"RUNNER_DEBUG": "1"}, {"ONNX_PACKAGE_DEBUG": "1"}])
def test_debug_logging_adds_the_traceback_before_the_same_line(debug):
    done = run_cli(**debug)
    assert done.returncode == 1 and "Traceback (most recent call last)" in done.stderr
    assert "SettingsError" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: Invalid input: model-source is 's3'")


def test_first_line_and_last_line_of_a_message():
    from onnx_package.errors import first_line, last_line

    assert first_line("\n  boom: a.onnx  \nb.onnx\n") == "boom: a.onnx"
    assert first_line("x" * 10, 5) == "xxxx…" and first_line("", default="Err") == "Err"
    assert last_line("warning\nerror: no wheel\n") == "error: no wheel" and last_line("  ") == "no output"


def test_outputs_travel_on_a_new_error_of_the_same_kind():
    from onnx_package.errors import PushError, ReleaseGateError

    try:
        raise PushError("pushing failed", "log in", pushed=["a"])
    except PushError as err:
        carried = err.with_outputs({"digest": "sha256:d"})
        assert err.outputs == {} and carried is not err and carried.__traceback__ is err.__traceback__
    assert (type(carried), carried.cause, carried.fix, carried.pushed, carried.outputs) == (
        PushError,
        "pushing failed",
        "log in",
        ["a"],
        {"digest": "sha256:d"},
    )
    gate = ReleaseGateError("3 changed", "look").with_outputs({"diff": "{}"})
    assert isinstance(gate, ReleaseGateError) and str(gate) == "3 changed. Fix: look" and gate.outputs == {"diff": "{}"}
