"""The client venv (.venv-kserve): the KServe SDK and tritonclient's gRPC client, which need protobuf 6 while the
test venv has onnx's protobuf 7. Tests drive them through small scripts run with its python."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GRPC_DRIVER = ROOT / "tests" / "server" / "grpc_driver.py"


def client_python() -> str:
    """The client venv's python; missing in CI is a failure that says how to make it, never a skip."""
    python = os.environ.get("KSERVE_PYTHON") or str(ROOT / ".venv-kserve" / "bin" / "python")
    if not Path(python).exists():
        message = f"no kserve venv at {python}: run scripts/setup-machine.sh (or set KSERVE_PYTHON)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return python


def run_driver(driver: Path, job: dict) -> dict:
    done = subprocess.run(
        [client_python(), str(driver), json.dumps(job)], capture_output=True, text=True, timeout=300, cwd="/"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def drive_grpc(job: dict) -> dict:
    """{"triton": ..., "kserve": ...}: each gRPC client in a process of its own (they register the same names)."""
    return {client: run_driver(GRPC_DRIVER, {**job, "client": client}) for client in ("triton", "kserve")}
