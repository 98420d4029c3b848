"""The image's three layers as folders: dependencies resolved on the runner, the server code, the model.

Every wheel is installed here with pip for the base image's Python and architecture (which
base_image.py read from the base itself); the byte code is compiled by the base's own python3
(bytecode.py), so the container starts fast on a read-only root filesystem.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import docker

import onnx_serve

from ..disk import first_failure
from ..errors import BuildError, last_line
from ..settings import Settings
from .base_image import BaseImage
from .bytecode import compile_for

SERVER_CODE = Path(onnx_serve.__file__).parent
LOCK_FILE = SERVER_CODE / "requirements.txt"  # every wheel pinned with its hashes (scripts/lock.sh)
GRPC_LOCK_FILE = SERVER_CODE / "requirements-grpc.txt"  # what `grpc: true` adds (grpcio, protobuf)
IMAGE_ROOT = "/opt/onnx-serve"  # where the layers go in the image
DEPS_FORMAT = 4  # part of the cache key: raise it when the way the dependencies folder is made changes


@dataclass(frozen=True)
class Context:
    """What goes into the image, one folder per layer, in layer order."""

    deps: Path  # /opt/onnx-serve/deps: the wheels, installed
    app: Path  # /opt/onnx-serve/app: the onnx_serve package
    model: Path  # /opt/onnx-serve/model: the bundle (model, tokenizer, config, serve.json)


# Never imported by the server: test suites, build sources, type stubs, onnxruntime's offline tools.
PRUNE = (
    "*/tests",
    "*/*/tests",
    "numpy/distutils",
    "onnxruntime/transformers",
    "onnxruntime/quantization",
    "onnxruntime/tools",
    "onnxruntime/datasets",
    "*/*.pyx",
    "*/*.pxd",
    "*/*.pyi",
    "*/*/*.pyi",
    "uvloop/*.c",
    "uvloop/*/*.c",
    "*/*.h",
    "*/*/*.h",
)


def prune(folder: Path) -> None:
    for pattern in PRUNE:
        for path in folder.glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def drop_console_scripts(folder: Path) -> None:
    """Remove bin/ and its lines in each RECORD: the scripts name the runner's Python, so their hashes would make
    the layer depend on where the runner keeps its venv."""
    shutil.rmtree(folder / "bin", ignore_errors=True)
    for record in folder.glob("*.dist-info/RECORD"):
        lines = record.read_text().splitlines(keepends=True)
        record.write_text("".join(line for line in lines if not line.startswith("../../bin/")))


def platform_tags(arch: str) -> list[str]:
    # Name every manylinux tag accepted: with manylinux2014 alone pip silently picks old onnxruntime wheels.
    return [f"manylinux_2_{minor}_{arch}" for minor in (28, 27, 26, 25, 24, 17, 12, 5)] + [f"linux_{arch}"]


def installed_report(deps: Path) -> Path:
    """pip's installation report of a dependencies folder (what the ML-BOM lists), kept beside it: not in the layer."""
    return deps.with_name(f"{deps.name}.pip-report.json")


def pip_install(target: Path, python: str, arch: str, locks: list[Path]) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--no-compile",
        "--require-hashes",
        "--target",
        str(target),
        "--python-version",
        python,
        "--implementation",
        "cp",
        "--only-binary=:all:",
        "--report",
        str(installed_report(target)),
        *(option for lock in locks for option in ("-r", str(lock))),
    ]
    for tag in platform_tags(arch):
        command += ["--platform", tag]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        last = last_line(done.stderr)
        raise BuildError(
            f"resolving the serving dependencies for Python {python} on linux/{arch} failed: {last}",
            "let the runner reach PyPI (or set PIP_INDEX_URL to a mirror)",
        )


def dependencies(client: docker.DockerClient, cache_dir: Path, base: BaseImage, grpc: bool = False) -> Path:
    """The installed serving dependencies with their byte code, cached by lock files and base image."""
    locks = [LOCK_FILE, GRPC_LOCK_FILE] if grpc else [LOCK_FILE]
    # The image fixes its Python and CPU; a foreign platform's byte code is written by another base's python3.
    recipe = f"{DEPS_FORMAT}{''.join(lock.read_text() for lock in locks)}{base.image_id}{base.compiler}"
    key = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    ready = cache_dir / "deps" / key
    if (ready / ".complete").is_file():
        return ready
    building = ready.with_name(f"{key}.{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)  # pip writes its report beside the folder it makes
    try:
        pip_install(building, base.python, base.arch, locks)
        drop_console_scripts(building)
        prune(building)
        compile_for(client, base, building, f"{IMAGE_ROOT}/deps")
        installed_report(building).replace(installed_report(ready))
        (building / ".complete").touch()
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)  # half a cache entry is of no use: give the space back
        installed_report(building).unlink(missing_ok=True)
        raise
    shutil.rmtree(ready, ignore_errors=True)
    building.rename(ready)
    return ready


def assemble_context(
    client: docker.DockerClient, settings: Settings, bundle: Path, base: BaseImage, dest: Path
) -> Context:
    try:
        deps = dependencies(client, settings.cache_dir, base, settings.grpc)
        return Context(deps, server_code(client, dest / "app", base), bundle)
    except OSError as err:  # shutil.Error too: disk full, quota, permissions
        shutil.rmtree(dest, ignore_errors=True)  # give the space back to the rest of the job
        raise disk_error(dest, err) from err


def disk_error(dest: Path, err: OSError) -> BuildError:
    return BuildError(
        f"cannot write the build context in {dest}: {first_failure(err)}",
        "let the runner write there, or set RUNNER_TEMP to another folder (a full disk is reported "
        "with the space the run needs)",
    )


def server_code(client: docker.DockerClient, dest: Path, base: BaseImage) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(
        SERVER_CODE,
        dest / "onnx_serve",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "requirements*.txt", "*.proto", "*.pyi"),
    )
    compile_for(client, base, dest, f"{IMAGE_ROOT}/app")
    return dest
