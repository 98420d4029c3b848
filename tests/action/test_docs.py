"""Docs that cannot drift: action.yml and README's tables come from the inputs/outputs tables."""

import subprocess
import sys
from pathlib import Path

import yaml

from onnx_package.cli import parser
from onnx_package.inputs import INPUTS
from onnx_package.outputs import OUTPUTS

ROOT = Path(__file__).resolve().parents[2]


def test_action_yml_and_readme_are_in_sync_with_the_tables():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sync_action.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_action_yml_cli_and_tables_agree():
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    names = [spec.name for spec in INPUTS]
    assert list(action["inputs"]) == names
    assert list(action["outputs"]) == [o.name for o in OUTPUTS]
    flags = {a.option_strings[0] for a in parser()._actions if a.option_strings[0].startswith("--")}
    assert {f"--{n}" for n in names} <= flags
    env = action["runs"]["steps"][-1]["env"]
    assert {f"INPUT_{n.upper().replace('-', '_')}" for n in names} == {n for n in env if n.startswith("INPUT_")}
    readme = (ROOT / "README.md").read_text()
    assert all(f"| `{n}` |" in readme for n in names + [o.name for o in OUTPUTS])
