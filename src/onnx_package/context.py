"""The build context: dependencies resolved on the runner, the server code, the model bundle.

Nothing in the image build needs the network: every wheel is installed here with pip for the
image's platform, then copied in. Byte code is compiled here too (unchecked-hash .pyc, valid
whatever the file times), so the container starts fast on a read-only root filesystem.
"""

from __future__ import annotations

import compileall
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import onnx_serve

from .errors import BuildError
from .settings import Settings

PYTHON_VERSION = "3.11"
DOCKERFILE = Path(__file__).with_name("Dockerfile")
SERVER_CODE = Path(onnx_serve.__file__).parent
LOCK_FILE = SERVER_CODE / "requirements.txt"  # every wheel pinned with its hashes (scripts/lock.sh)


# Never imported by the server: test suites, build sources, type stubs, onnxruntime's offline tools.
PRUNE = ("*/tests", "*/*/tests", "numpy/distutils", "onnxruntime/transformers", "onnxruntime/quantization",
         "onnxruntime/tools", "onnxruntime/datasets", "*/*.pyx", "*/*.pxd", "*/*.pyi", "*/*/*.pyi", "uvloop/*.c",
         "uvloop/*/*.c", "*/*.h", "*/*/*.h")


def prune(folder: Path) -> None:
    for pattern in PRUNE:
        for path in folder.glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def platform_tags(arch: str) -> list[str]:
    # Name every manylinux tag accepted: with manylinux2014 alone pip silently picks old onnxruntime wheels.
    return [f"manylinux_2_{minor}_{arch}" for minor in (28, 27, 26, 25, 24, 17, 12, 5)] + [f"linux_{arch}"]


def compile_tree(folder: Path) -> None:
    compileall.compile_dir(str(folder), quiet=2, workers=0, ddir=None,
                           invalidation_mode=compileall.py_compile.PycInvalidationMode.UNCHECKED_HASH)


def pip_install(target: Path, arch: str) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
               "--no-compile", "--require-hashes", "--target", str(target), "--python-version", PYTHON_VERSION,
               "--implementation", "cp", "--only-binary=:all:", "-r", str(LOCK_FILE)]
    for tag in platform_tags(arch):
        command += ["--platform", tag]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BuildError(f"resolving the serving dependencies for linux/{arch} failed: {last}",
                         "let the runner reach PyPI (or set PIP_INDEX_URL to a mirror)")


def dependencies(cache_dir: Path, arch: str) -> Path:
    """The installed serving dependencies, cached by lock file and platform."""
    key = hashlib.sha256(f"{LOCK_FILE.read_text()}{arch}{PYTHON_VERSION}".encode()).hexdigest()[:16]
    ready = cache_dir / "deps" / key
    if (ready / ".complete").is_file():
        return ready
    building = ready.with_name(f"{key}.{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    pip_install(building, arch)
    shutil.rmtree(building / "bin", ignore_errors=True)  # console scripts point at the runner's Python
    prune(building)
    compile_tree(building)
    (building / ".complete").touch()
    shutil.rmtree(ready, ignore_errors=True)
    building.rename(ready)
    return ready


def link_tree(source: Path, dest: Path) -> None:
    """Copy by hard link where the file system allows (the deps are large and unchanging)."""
    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, dest, copy_function=link_or_copy,
                    ignore=shutil.ignore_patterns(".complete"))


def make_readable(folder: Path) -> None:
    """The image runs as a non-root user: every file readable, every folder searchable."""
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | (0o555 if path.is_dir() else 0o444))


def assemble_context(settings: Settings, bundle: Path, arch: str, dest: Path) -> Path:
    try:
        return fill_context(settings, bundle, arch, dest)
    except OSError as err:  # shutil.Error too: disk full, quota, permissions
        shutil.rmtree(dest, ignore_errors=True)  # give the space back to the rest of the job
        raise BuildError(f"cannot write the build context in {dest}: {first_failure(err)}",
                         "free disk space there (the context holds the serving dependencies, ~150 MB, and the "
                         "model), or set RUNNER_TEMP to a folder on a larger disk") from err


def first_failure(err: OSError) -> str:
    """One reason: shutil.copytree's Error lists every file that failed, the first says why."""
    failures = err.args[0] if isinstance(err, shutil.Error) and err.args else None
    if isinstance(failures, list) and failures and len(failures[0]) == 3:
        return str(failures[0][2])
    return str(err)


def fill_context(settings: Settings, bundle: Path, arch: str, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    link_tree(dependencies(settings.cache_dir, arch), dest / "deps")
    shutil.copytree(SERVER_CODE, dest / "app" / "onnx_serve",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt"))
    compile_tree(dest / "app")
    shutil.copytree(bundle, dest / "model")
    make_readable(dest / "model")
    make_readable(dest / "app")
    shutil.copy2(DOCKERFILE, dest / "Dockerfile")
    return dest
