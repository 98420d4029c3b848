"""Example and test workflows are valid YAML, and use only the action's real inputs and outputs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from act_helpers import ROOT, WORKFLOWS
from onnx_package.ci.gitlab import DEFAULT_DOTENV
from onnx_package.inputs import INPUTS
from onnx_package.outputs import OUTPUTS, variable_name

ACTION = "org/onnx-package-action@v1"
OTHER_CI = ("azure-pipelines.yml", ".gitlab-ci.yml")  # the tool's image on Azure Pipelines and GitLab CI
EXAMPLES = sorted(path for path in (ROOT / "examples").glob("*.yml") if path.name not in OTHER_CI)
ALL_WORKFLOWS = EXAMPLES + sorted(WORKFLOWS.glob("*.yml")) + sorted((ROOT / ".github" / "workflows").glob("*.yml"))
INPUT_NAMES = {spec.name for spec in INPUTS}
OUTPUT_NAMES = {output.name for output in OUTPUTS}
INPUT_VARIABLES = {f"INPUT_{variable_name(spec.name)}" for spec in INPUTS}
OUTPUT_VARIABLES = {variable_name(output.name) for output in OUTPUTS}  # what the Azure and GitLab reporters write


def load(path: Path) -> dict[str, Any]:
    workflow = yaml.safe_load(path.read_text())
    assert isinstance(workflow, dict) and workflow.get("jobs"), f"{path.name}: no jobs"
    return workflow


def our_steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(job id, step) for every step that uses this action (published or `./`)."""
    return [
        (job_id, step)
        for job_id, job in workflow["jobs"].items()
        for step in job.get("steps", [])
        if step.get("uses") in (ACTION, "./")
    ]


def test_there_are_examples_for_every_documented_case():
    names = {path.stem for path in EXAMPLES}
    assert {"tutorial", "oidc", "acr", "local-model", "deploy-aks", "deploy-kserve"} <= names
    readme = (ROOT / "examples" / "README.md").read_text()
    assert all(f"`{path.name}`" in readme for path in EXAMPLES + [ROOT / "examples" / name for name in OTHER_CI])


def package_steps(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    """Azure Pipelines steps that run the tool's CLI, at any depth."""
    if isinstance(pipeline, list):
        return [step for item in pipeline for step in package_steps(item)]
    if not isinstance(pipeline, dict):
        return []
    found = [pipeline] if str(pipeline.get("script", "")).startswith("onnx-package") else []
    return found + [step for value in pipeline.values() for step in package_steps(value)]


def test_azure_pipelines_reads_the_output_variables_the_reporter_writes():
    path = ROOT / "examples" / "azure-pipelines.yml"
    pipeline = yaml.safe_load(path.read_text())
    steps = package_steps(pipeline)
    assert len(steps) == 1 and steps[0]["target"] in {c["container"] for c in pipeline["resources"]["containers"]}
    assert set(steps[0]["env"]) <= INPUT_VARIABLES, set(steps[0]["env"]) - INPUT_VARIABLES
    used = re.findall(r"stageDependencies\.Package\.package\.outputs\['(\w+)\.(\w+)'\]", path.read_text())
    assert ("package", "DIGEST") in used and all(step == steps[0]["name"] for step, _ in used)
    assert {variable for _, variable in used} <= OUTPUT_VARIABLES


def test_gitlab_ci_deploys_from_the_dotenv_report_the_reporter_writes():
    path = ROOT / "examples" / ".gitlab-ci.yml"
    pipeline = yaml.safe_load(path.read_text())
    package, deploy = pipeline["package"], pipeline["deploy"]
    assert package["artifacts"]["reports"]["dotenv"] == DEFAULT_DOTENV and "onnx-package" in package["script"]
    assert {name for name in package["variables"] if name.startswith("INPUT_")} <= INPUT_VARIABLES
    assert deploy["needs"] == ["package"]
    used = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", "\n".join(deploy["script"])))
    assert "DIGEST" in used and used - {"CI_REGISTRY_IMAGE"} <= OUTPUT_VARIABLES


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
