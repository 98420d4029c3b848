"""action.yml: a composite action that works offline (act) and never interpolates inputs into scripts."""

from __future__ import annotations

import subprocess

import yaml

from action.act_helpers import ROOT
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
    assert all("${{ github.action_path }}" in step["run"] for step in STEPS)


def test_inputs_reach_the_scripts_through_the_environment_only():
    """`${{ inputs.x }}` inside `run:` would be script injection; env values are data."""
    assert not any("inputs." in step["run"] for step in STEPS)
    package = next(step for step in STEPS if step.get("id") == "package")
    assert package["env"] == {f"INPUT_{spec.attr.upper()}": f"${{{{ inputs.{spec.name} }}}}" for spec in INPUTS}


def test_install_script_is_valid_bash():
    done = subprocess.run(["bash", "-n", str(ROOT / "scripts" / "install-action.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
