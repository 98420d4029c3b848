"""Read the hash-locked requirements files that scripts/lock.sh writes."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
SERVE_LOCK = ROOT / "src" / "onnx_serve" / "requirements.txt"
GRPC_LOCK = ROOT / "src" / "onnx_serve" / "requirements-grpc.txt"  # what `grpc: true` adds
RUNNER_LOCK = ROOT / "requirements" / "runner.txt"
TEST_LOCK = ROOT / "requirements" / "test.txt"
UV_LOCK = ROOT / "requirements" / "uv.txt"
KSERVE_LOCK = ROOT / "requirements" / "kserve-client.txt"  # its own venv (.venv-kserve)


def entries(lock: Path) -> list[tuple[Requirement, list[str]]]:
    """Each requirement with its hashes; continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", lock.read_text())
    found = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement, *options = line.split(" --hash=")
            found.append((Requirement(requirement.strip()), [option.strip() for option in options]))
    return found


def pins(lock: Path, environment: dict[str, str] | None = None) -> dict[str, str]:
    """name -> exact version, for the requirements whose marker holds in `environment` (default: here)."""
    chosen = {}
    for requirement, _ in entries(lock):
        if requirement.marker is None or requirement.marker.evaluate(environment):
            (specifier,) = requirement.specifier
            chosen[re.sub(r"[-_.]+", "-", requirement.name).lower()] = specifier.version
    return chosen


def linux(python: str, machine: str) -> dict[str, str]:
    """The marker environment of CPython `python` on linux/`machine`."""
    return {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": machine,
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
    }
