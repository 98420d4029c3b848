"""What the action installs is what the code imports: the isolated venv gets requirements/runner.txt."""

from __future__ import annotations

import ast
import os
import platform
import re
import shutil
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from act_helpers import ROOT
from locks import RUNNER_LOCK, pins

OWN = {"onnx_package", "onnx_serve"}


def imported_modules() -> set[str]:
    """Top-level names imported anywhere in src/ (lazy imports inside functions too), but the image-only gRPC
    endpoint (its grpcio comes with requirements-grpc.txt, in the image; tests/server/test_imports.py checks it)."""
    names: set[str] = set()
    grpc_api = ROOT / "src" / "onnx_serve" / "grpc_api"
    for path in (p for p in (ROOT / "src").rglob("*.py") if grpc_api not in p.parents):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names - OWN - set(sys.stdlib_module_names)


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_import_in_src_comes_with_the_runner_lock():
    providers = packages_distributions()
    locked = set(pins(RUNNER_LOCK))
    missing = {
        module: providers.get(module, ["?"])
        for module in imported_modules()
        if not any(normalized(dist) in locked for dist in providers.get(module, []))
    }
    assert not missing, f"imported but not in requirements/runner.txt: {missing}"


SIX = (
    "six==1.17.0 --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274 "
    "--hash=sha256:ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81\n"
)


@pytest.fixture
def action_copy(tmp_path):
    """The install script with its locks, in a folder of its own whose runner lock is one small package."""
    copy = tmp_path / "action"
    for part in ("scripts/install-action.sh", "requirements/uv.txt", "src/onnx_serve/requirements.txt"):
        (copy / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / part, copy / part)
    (copy / "requirements" / "runner.txt").write_text(SIX)
    return copy


def install(action: Path, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "RUNNER_TOOL_CACHE": str(tmp_path / "tool-cache"),
        "UV_CACHE_DIR": str(tmp_path / "uv"),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "ONNX_PACKAGE_PYTHON": sys.executable,
        **env,
    }
    return subprocess.run(
        ["bash", str(action / "scripts" / "install-action.sh"), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def key_outputs(text: str) -> dict[str, str]:
    """`--key`'s GITHUB_OUTPUT lines: name=value, and name<<DELIMITER blocks."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line:
            name, _, delimiter = line.partition("<<")
            values[name] = "\n".join(iter(lambda: next(lines), delimiter))
        else:
            name, _, value = line.partition("=")
            values[name] = value
    return values


def test_the_cache_key_is_the_locks_the_python_the_os_and_the_machine(action_copy, tmp_path):
    first = install(action_copy, tmp_path, "--key").stdout
    outputs = key_outputs(first)
    assert outputs["key"].startswith(f"onnx-package-linux-{platform.machine()}-py{platform.python_version()}-")
    assert outputs["path"].splitlines() == [
        str(tmp_path / "tool-cache" / "onnx-package-action"),
        str(Path.home() / ".cache" / "onnx-package"),
    ]
    (action_copy / "requirements" / "runner.txt").write_text(SIX.replace("six==1.17.0", "six==1.16.0"))
    assert install(action_copy, tmp_path, "--key").stdout != first
    (action_copy / "src" / "onnx_serve" / "requirements.txt").write_text("# another image lock\n")
    assert len({first, install(action_copy, tmp_path, "--key").stdout}) == 2


def test_uv_installs_the_lock_then_a_rerun_reuses_the_venv(action_copy, tmp_path):
    done = install(action_copy, tmp_path)
    assert done.returncode == 0, done.stderr
    python = (tmp_path / "output").read_text().strip().removeprefix("python=")
    assert Path(python).parent.joinpath("uv").is_file() and "with pip" not in done.stdout
    key = key_outputs(install(action_copy, tmp_path, "--key").stdout)["key"]
    assert Path(python).parents[1] == tmp_path / "tool-cache" / "onnx-package-action" / key.removeprefix(
        "onnx-package-"
    )  # the folder actions/cache restores is the one the install uses
    again = install(action_copy, tmp_path)
    assert "Using onnx-package's environment" in again.stdout and "Installed" not in again.stdout
    assert subprocess.run([python, "-c", "import six; assert six.__version__ == '1.17.0'"]).returncode == 0


def test_a_hash_that_does_not_match_stops_the_install(action_copy, tmp_path):
    (action_copy / "requirements" / "runner.txt").write_text(
        SIX.replace("4721f391", "0000f391").replace("ff70335d", "0000335d")
    )
    done = install(action_copy, tmp_path)
    assert done.returncode != 0 and "hash" in (done.stdout + done.stderr).lower()


def test_pip_installs_the_same_lock_when_uv_cannot_be_had(action_copy, tmp_path):
    uv_lock = action_copy / "requirements" / "uv.txt"
    uv_lock.write_text(re.sub(r"sha256:[0-9a-f]{64}", "sha256:" + "0" * 64, uv_lock.read_text()))
    done = install(action_copy, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "installing the same lock with pip" in done.stdout
    python = (tmp_path / "output").read_text().strip().removeprefix("python=")
    assert subprocess.run([python, "-c", "import six"]).returncode == 0


def test_an_unsupported_python_is_refused_with_the_fix(action_copy, tmp_path):
    old = tmp_path / "python3.10"
    old.write_text("#!/bin/sh\necho 3.10\n")
    old.chmod(0o755)
    done = install(action_copy, tmp_path, ONNX_PACKAGE_PYTHON=str(old))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("::error title=onnx-package::")
    assert "is Python 3.10, not one of 3.11 3.12 3.13 3.14" in done.stderr and "actions/setup-python" in done.stderr


def test_a_runner_that_is_not_linux_is_refused_with_the_fix(action_copy, tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "uname").write_text("#!/bin/sh\necho Darwin\n")
    (fake / "uname").chmod(0o755)
    done = install(action_copy, tmp_path, PATH=f"{fake}:{os.environ['PATH']}")
    assert done.returncode == 1 and not (tmp_path / "tool-cache").exists()
    assert done.stderr.strip().splitlines()[-1].startswith("::error title=onnx-package::this action runs on Linux")
    assert "this runner is Darwin. Fix: runs-on: ubuntu-latest" in done.stderr
