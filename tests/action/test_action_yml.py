"""action.yml: a composite action that works offline (act) and never interpolates inputs into scripts."""

from __future__ import annotations

import subprocess

import yaml

from act_helpers import ROOT
from onnx_package.inputs import INPUTS
from onnx_package.outputs import OUTPUTS

ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
STEPS = ACTION["runs"]["steps"]


def test_composite_with_branding_and_documented_inputs_and_outputs():
    assert ACTION["runs"]["using"] == "composite"
    assert ACTION["branding"] == {"icon": "package", "color": "blue"}
    for spec in INPUTS:
        entry = ACTION["inputs"][spec.name]
        assert entry["description"] and entry["required"] is False
        assert entry.get("default", "") == spec.default
    for output in OUTPUTS:
        assert ACTION["outputs"][output.name]["value"] == f"${{{{ steps.package.outputs.{output.name} }}}}"


def test_steps_need_nothing_from_the_network_but_pip():
    """No nested `uses:`: act --action-offline-mode (and GHES without github.com) run it as is."""
    assert all("run" in step and step["shell"] == "bash" for step in STEPS)
    assert all("$GITHUB_ACTION_PATH/" in step["run"] for step in STEPS)


def test_no_expression_is_pasted_into_a_script():
    """In a `container:` job `${{ github.action_path }}` is the host's path (actions/runner#2185), and an
    expression inside `run:` is code, not data: the folder comes from $GITHUB_ACTION_PATH, the rest from env."""
    assert not any("${{" in step["run"] for step in STEPS)
    package = next(step for step in STEPS if step.get("id") == "package")
    assert package["env"]["ONNX_PACKAGE_VENV_PYTHON"] == "${{ steps.install.outputs.python }}"
    assert package["run"] == '"$ONNX_PACKAGE_VENV_PYTHON" "$GITHUB_ACTION_PATH/entrypoint.py"'


def test_inputs_reach_the_scripts_through_the_environment_only():
    """`${{ inputs.x }}` inside `run:` would be script injection; env values are data."""
    assert not any("inputs." in step["run"] for step in STEPS)
    package = next(step for step in STEPS if step.get("id") == "package")
    inputs = {name: value for name, value in package["env"].items() if "inputs." in value}
    assert inputs == {f"INPUT_{spec.attr.upper()}": f"${{{{ inputs.{spec.name} }}}}" for spec in INPUTS}


def test_install_script_is_valid_bash():
    done = subprocess.run(["bash", "-n", str(ROOT / "scripts" / "install-action.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
