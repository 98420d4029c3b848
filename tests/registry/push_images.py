"""A small image assembled as the tool assembles one, for the registry tests (fixtures builder and mini_image).

The image has the real layer layout (deps/, app/, model/) with small made-up contents over a
one-file base image, so a build takes a second and a push to a new registry about a second too.
"""

from __future__ import annotations

import io
import random
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

import docker

from onnx_package import retry
from onnx_package.image.build import build_image
from onnx_package.image.context import Context

# Not conftest's TEST_LABEL: the cleanup of tests running at the same time removes images carrying that.
LABEL = "org.onnx-package.registry-test"
FAST_PUSH = retry.Policy(attempts=5, first_delay=0.2, max_delay=5.0, budget=120.0)


def make_context(folder: Path, deps_seed: int = 1, model: bytes = b"model A", deps_size: int = 2_000_000) -> Path:
    """The three layer folders: incompressible deps, a tiny app, a tiny model."""
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "deps").mkdir(parents=True)
    (folder / "deps" / "lib.bin").write_bytes(random.Random(deps_seed).randbytes(deps_size))
    (folder / "app" / "onnx_serve").mkdir(parents=True)
    (folder / "app" / "onnx_serve" / "__init__.py").write_text("# the server would be here\n")
    (folder / "model").mkdir()
    (folder / "model" / "model.onnx").write_bytes(model)
    return folder


def import_tiny_base(client: docker.DockerClient, ref: str) -> str:
    """A base image of one small file (assembling an image runs nothing in it)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = b"tiny base for the registry tests\n"
        info = tarfile.TarInfo("etc/tiny-base")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    repo, _, tag = ref.rpartition(":")
    client.api.import_image_from_data(buffer.getvalue(), repository=repo, tag=tag, changes=[f"LABEL {LABEL}=1"])
    return ref


@dataclass
class Builder:
    client: docker.DockerClient
    base_image: str

    def build(self, folder: Path, tag: str) -> str:
        context = Context(folder / "deps", folder / "app", folder / "model")
        base_id = self.client.images.get(self.base_image).id
        return build_image(self.client, base_id, context, tag, {LABEL: "1"}, 0)
