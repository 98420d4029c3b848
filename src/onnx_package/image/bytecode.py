"""Byte code for the image, compiled by the base image's own python3.

So the .pyc are what the image's Python writes, whatever Python the runner has (two patch releases of
one Python write different bytes): the layers stay the same on every runner, and the container starts
without compiling on its read-only root filesystem. The files go in and out through the engine's
archive API, not a bind mount, so this works with a remote engine and from inside a container too.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import docker
import requests

from ..errors import BuildError, last_line
from .layers import ChunkReader, tar_stream

if TYPE_CHECKING:
    from docker.models.containers import Container

    from .base_image import BaseImage

# Unchecked-hash .pyc are valid whatever the file times; 1 means some file did not compile (a package's
# Python 2 example, say): that module is then compiled in memory on import, as without a .pyc.
COMPILE = ["python3", "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
COMPILED = (0, 1)
SECONDS = 300  # a few seconds on 2 cores; minutes only under emulation


def compile_in_base(client: docker.DockerClient, base_image_id: str, folder: Path, image_path: str) -> None:
    """Compile `folder` as the base's python3 sees it at `image_path`; the .pyc land beside the sources."""
    container = client.containers.create(
        base_image_id,
        entrypoint=[*COMPILE, image_path],
        user="0",
        network_disabled=True,
        labels={"io.github.onnx-package.bytecode": "1"},
    )
    try:
        container.put_archive("/", tar_stream(folder, image_path))  # streamed: no copy of the tree on disk
        container.start()
        status = int(container.wait(timeout=SECONDS).get("StatusCode", -1))
        if status not in COMPILED:
            log = container.logs(tail=3).decode(errors="replace").strip().replace("\n", " | ")
            raise BuildError(
                f"compiling the image's byte code with the base's python3 failed ({status}): {log}",
                "check that base-image's python3 has its standard library (compileall)",
            )
        copy_bytecode(container, image_path, folder)
    except requests.exceptions.RequestException as err:  # the wait timed out
        raise BuildError(
            f"the base image's python3 did not finish compiling the byte code in {SECONDS} s",
            "check that base-image's python3 runs `python3 -m compileall` (a wrapper script may not)",
        ) from err
    except docker.errors.APIError as err:
        raise BuildError(
            f"compiling the image's byte code in the base image failed: {err.explanation or err}",
            "check the Docker engine (docker info) and rerun",
        ) from err
    finally:
        container.remove(force=True)


def copy_bytecode(container: Container, image_path: str, folder: Path) -> None:
    """Every __pycache__/*.pyc under image_path, written to the same place under folder."""
    stream, _ = container.get_archive(image_path)
    with tarfile.open(fileobj=ChunkReader(stream), mode="r|") as tar:
        for member in tar:
            parts = PurePosixPath(member.name).parts[1:]  # the archive's root is image_path's last name
            if member.isfile() and len(parts) >= 2 and parts[-2] == "__pycache__" and member.name.endswith(".pyc"):
                content = tar.extractfile(member)
                if content is not None:
                    target = folder.joinpath(*parts)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(content.read())


def compile_for(client: docker.DockerClient, base: BaseImage, folder: Path, image_path: str) -> None:
    """The byte code for `base`'s image: by its own python3 (its platform runs here), by another base's of the same
    Python (a foreign platform: .pyc do not depend on the CPU), by the runner's Python of that version, or none."""
    from .base_image import NO_BYTECODE, RUNNER

    if base.compiler == NO_BYTECODE:
        return
    if base.compiler == RUNNER:
        compile_on_runner(folder, image_path)
        return
    compile_in_base(client, base.compiler or base.image_id, folder, image_path)


def compile_on_runner(folder: Path, image_path: str) -> None:
    """The runner's Python compiles `folder` as if it were at `image_path` (the path its tracebacks name)."""
    done = subprocess.run(
        [sys.executable, *COMPILE[1:], "-s", str(folder), "-p", image_path, str(folder)],
        capture_output=True,
        text=True,
        timeout=SECONDS,
    )
    if done.returncode not in COMPILED:
        last = last_line(done.stderr)
        raise BuildError(
            f"compiling the image's byte code with the runner's Python failed: {last}",
            "check the runner's Python installation (python3 -m compileall)",
        )
