"""The CLI's report on Azure Pipelines and GitLab CI, read line by line from real runs of examples/sentiment
(pushed to a local registry with a password) and of a bad input: the documented formats, and no secret."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from act_helpers import ROOT
from onnx_package.ci.gitlab import GitLabReporter
from onnx_package.outputs import OUTPUTS, variable_name

if TYPE_CHECKING:
    from testbed import DockerCleanup, Registry

pytestmark = pytest.mark.engine

EXAMPLE = ROOT / "examples" / "sentiment"
VARIABLES = {variable_name(output.name) for output in OUTPUTS}  # every output, as a CI variable
STAGES = [
    "Resolve base image",
    "Check registry credentials",
    "Fetch model",
    "Inspect and smoke test",
    "Optimize",
    "Pull build cache",
    "Build image",
    "Check container",
    "Push",
    "ML-BOM",
]


@dataclass
class Run:
    code: int
    stdout: list[str]
    stderr: list[str]


def run_cli(tmp_path: Path, env: dict[str, str], *args: str) -> Run:
    """The CLI as a CI job runs it: no GitHub variables, the CI system's own."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "INPUT_")) and k not in ("TF_BUILD", "GITLAB_CI")
    }
    environ = {**clean, "RUNNER_TEMP": str(tmp_path), "SOURCE_DATE_EPOCH": "1700000000", **env}
    done = subprocess.run(
        [sys.executable, "-m", "onnx_package.cli", *args], env=environ, cwd=tmp_path, capture_output=True, timeout=900
    )  # bytes: text mode would turn each CR into a LF
    return Run(done.returncode, lines(done.stdout.decode()), lines(done.stderr.decode()))


def lines(text: str) -> list[str]:
    """Split on LF only: GitLab's section markers carry a CR inside the line."""
    return text.split("\n")[:-1] if text else []


def package(tmp_path: Path, registry: Registry, prefix: str, env: dict[str, str], *extra: str) -> Run:
    auth = f"- registry: {registry.host}\n  username: {registry.username}\n  password: {registry.password}\n"
    return run_cli(
        tmp_path,
        {"INPUT_REGISTRY_AUTH": auth, **env},
        "--model-source",
        "local",
        "--model-path",
        str(EXAMPLE),
        "--base-image",
        "onnx-package-test/base:bookworm",
        "--images",
        f"{registry.host}/{prefix}/sentiment",
        "--tags",
        "v1",
        *extra,
    )


def azure_variables(lines: list[str]) -> dict[str, str]:
    command = re.compile(r"##vso\[task\.setvariable variable=([A-Z0-9_]+);isOutput=true\](.*)")
    found = [command.fullmatch(line) for line in lines]
    return {match[1]: match[2] for match in found if match}


def test_azure_pipelines_run(tmp_path, auth_registry, docker_cleanup: DockerCleanup):
    done = package(
        tmp_path, auth_registry, docker_cleanup.prefix, {"TF_BUILD": "True", "AGENT_TEMPDIRECTORY": str(tmp_path)}
    )
    assert done.code == 0, done.stdout[-5:]
    assert done.stdout[0] == f"##vso[task.setsecret]{auth_registry.password}"  # before anything else
    assert [line[len("##[group]") :] for line in done.stdout if line.startswith("##[group]")] == STAGES
    assert done.stdout.count("##[endgroup]") == len(STAGES)
    variables = azure_variables(done.stdout)
    assert set(variables) == VARIABLES
    digest = auth_registry.manifest_digest(f"{docker_cleanup.prefix}/sentiment", "v1")
    assert variables["DIGEST"] == digest
    assert variables["IMAGES"] == f"{auth_registry.host}/{docker_cleanup.prefix}/sentiment@{digest}"
    assert done.stdout[-1] == f"##vso[task.uploadsummary]{tmp_path / 'onnx-package-summary.md'}"
    assert (tmp_path / "onnx-package-summary.md").read_text().startswith("### Packaged sentiment")
    assert not any("task.complete" in line or "logissue type=error" in line for line in done.stdout)
    warnings = [line for line in done.stdout if "logissue" in line]  # the local base image, pinned by no registry
    assert len(warnings) == 1 and warnings[0].startswith("##vso[task.logissue type=warning]base-image ")
    assert_secret_only_in_setsecret(done, tmp_path, auth_registry.password)


def test_azure_pipelines_failure(tmp_path, auth_registry, docker_cleanup: DockerCleanup):
    done = package(tmp_path, auth_registry, docker_cleanup.prefix.upper(), {"TF_BUILD": "True"})
    assert done.code == 1
    assert done.stdout[0] == f"##vso[task.setsecret]{auth_registry.password}"
    error = [line for line in done.stdout if line.startswith("##vso[task.logissue type=error]")]
    assert len(error) == 1 and error[0].startswith("##vso[task.logissue type=error]Invalid input: ")
    assert ". Fix: " in error[0] and "%0A" not in error[0]
    assert done.stdout[-2:] == [
        f"##vso[task.uploadsummary]{tmp_path / 'onnx-package-summary.md'}",
        "##vso[task.complete result=Failed;]",
    ]
    assert (tmp_path / "onnx-package-summary.md").read_text().startswith("### onnx-package failed: Invalid input")
    assert azure_variables(done.stdout) == {}
    assert_secret_only_in_setsecret(done, tmp_path, auth_registry.password)


def assert_secret_only_in_setsecret(done: Run, tmp_path: Path, password: str) -> None:
    shown = [line for line in done.stdout + done.stderr if password in line]
    assert shown == [f"##vso[task.setsecret]{password}"]
    assert password not in (tmp_path / "onnx-package-summary.md").read_text()


SECTION_START = re.compile(r"\x1b\[0Ksection_start:(\d+):([a-z0-9_]+)\[collapsed=true\]\r\x1b\[0K(.+)")
SECTION_END = re.compile(r"\x1b\[0Ksection_end:(\d+):([a-z0-9_]+)\r\x1b\[0K")


def test_gitlab_ci_run(tmp_path, auth_registry, docker_cleanup: DockerCleanup):
    dotenv = tmp_path / "out" / "package.env"
    dotenv.parent.mkdir()
    done = package(
        tmp_path, auth_registry, docker_cleanup.prefix, {"GITLAB_CI": "true", "ONNX_PACKAGE_DOTENV": str(dotenv)}
    )
    assert done.code == 0, done.stderr[-5:]
    starts = [SECTION_START.fullmatch(line) for line in done.stderr if "section_start" in line]
    ends = [SECTION_END.fullmatch(line) for line in done.stderr if "section_end" in line]
    assert all(starts) and all(ends) and [m[3] for m in starts] == STAGES
    assert [m[2] for m in starts] == [m[2] for m in ends] == [re.sub(r"\W+", "_", s.lower()) for s in STAGES]
    assert all(int(start[1]) <= int(end[1]) for start, end in zip(starts, ends, strict=True))
    lines = dotenv.read_text().splitlines()
    assert all(re.fullmatch(r"[A-Z_][A-Z0-9_]*=[^\r\n]*", line) for line in lines), lines
    values = dict(line.split("=", 1) for line in lines)
    assert set(values) == VARIABLES
    digest = auth_registry.manifest_digest(f"{docker_cleanup.prefix}/sentiment", "v1")
    assert values["DIGEST"] == digest
    assert f"digest={digest}" in done.stdout  # and the plain outputs in the log
    assert not any(auth_registry.password in line for line in done.stdout + done.stderr + lines)


def test_gitlab_ci_failure_writes_no_dotenv(tmp_path, auth_registry, docker_cleanup: DockerCleanup):
    done = package(tmp_path, auth_registry, docker_cleanup.prefix.upper(), {"GITLAB_CI": "true"})
    assert done.code == 1
    assert [line for line in done.stderr if line.startswith("error: ")] == done.stderr[-1:]
    assert done.stderr[-1].startswith("error: Invalid input: ") and ". Fix: " in done.stderr[-1]
    assert not (tmp_path / "onnx-package.env").exists() and done.stdout == []
    assert not any(auth_registry.password in line for line in done.stderr)


def test_gitlab_masks_every_known_secret_in_every_line(capsys):
    report = GitLabReporter({})
    report.mask("hunter2")
    report.mask("hunter2-longer")
    report.info("token hunter2-longer then hunter2\nsecond line hunter2")
    assert capsys.readouterr().err.splitlines() == ["token [MASKED] then [MASKED]", "second line [MASKED]"]
