"""Example and test workflows are valid YAML, and use only the action's real inputs and outputs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from action.act_helpers import ROOT, WORKFLOWS
from onnx_package.inputs import INPUTS
from onnx_package.outputs import OUTPUTS

ACTION = "org/onnx-package-action@v1"
EXAMPLES = sorted((ROOT / "examples").glob("*.yml"))
ALL_WORKFLOWS = EXAMPLES + sorted(WORKFLOWS.glob("*.yml")) + sorted((ROOT / ".github" / "workflows").glob("*.yml"))
INPUT_NAMES = {spec.name for spec in INPUTS}
OUTPUT_NAMES = {output.name for output in OUTPUTS}


def load(path: Path) -> dict[str, Any]:
    workflow = yaml.safe_load(path.read_text())
    assert isinstance(workflow, dict) and workflow.get("jobs"), f"{path.name}: no jobs"
    return workflow


def our_steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(job id, step) for every step that uses this action (published or `./`)."""
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job.get("steps", [])
            if step.get("uses") in (ACTION, "./")]


def test_there_are_examples_for_every_documented_case():
    names = {path.stem for path in EXAMPLES}
    assert {"tutorial", "oidc", "acr", "local-model", "deploy-aks", "deploy-kserve"} <= names
    readme = (ROOT / "examples" / "README.md").read_text()
    assert all(f"`{path.name}`" in readme for path in EXAMPLES)


@pytest.mark.parametrize("path", ALL_WORKFLOWS, ids=lambda p: p.name)
def test_workflow_parses_and_every_job_runs_somewhere(path):
    for job_id, job in load(path)["jobs"].items():
        assert job.get("runs-on") or job.get("uses"), f"{path.name}: job {job_id} has no runs-on"
        for step in job.get("steps", []):
            assert ("uses" in step) != ("run" in step), f"{path.name}: {job_id}: {step}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_use_the_published_action_with_real_inputs(path):
    steps = our_steps(load(path))
    assert steps and all(step["uses"] == ACTION for _, step in steps), f"{path.name} must use {ACTION}"
    for _, step in steps:
        assert set(step.get("with", {})) <= INPUT_NAMES, set(step["with"]) - INPUT_NAMES


@pytest.mark.parametrize("path", EXAMPLES + sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_outputs_read_from_the_action_exist(path):
    workflow = load(path)
    text = path.read_text()
    for job_id, step in our_steps(workflow):
        assert set(step.get("with", {})) <= INPUT_NAMES
        if "id" in step:
            used = set(re.findall(rf"steps\.{re.escape(step['id'])}\.outputs\.([\w-]+)", text))
            assert used <= OUTPUT_NAMES | {"*"}, f"{path.name}: {job_id}: {used - OUTPUT_NAMES}"
    for job_id, job in workflow["jobs"].items():
        for needed in re.findall(r"needs\.([\w-]+)\.outputs\.([\w-]+)", yaml.safe_dump(job)):
            assert needed[1] in workflow["jobs"][needed[0]].get("outputs", {}), f"{path.name}: {job_id}: {needed}"
