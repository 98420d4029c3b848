"""Look inside a built image: every layer's files, as `docker save` hands them out.

with saved_image(client, image_id, folder) as image:
    for layer in image.layers: ...            # oldest first
    for name, data in files(image, layer): ...
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker


@dataclass
class SavedImage:
    archive: tarfile.TarFile
    layers: list[str]  # member names of the layer tars, oldest first
    members: list[str]  # every member of the archive (config, manifests, layers)


@contextmanager
def saved_image(client: docker.DockerClient, image_id: str, folder: Path) -> Iterator[SavedImage]:
    """`docker save` of the image, written to `folder` and opened (both the classic and the OCI layout)."""
    path = folder / "image.tar"
    with path.open("wb") as stream:
        for chunk in client.images.get(image_id).save(named=False):
            stream.write(chunk)
    with tarfile.open(path) as archive:
        manifest = json.loads(archive.extractfile("manifest.json").read())  # type: ignore[union-attr]
        yield SavedImage(archive, list(manifest[0]["Layers"]), archive.getnames())
    path.unlink()


def files(image: SavedImage, layer: str) -> Iterator[tuple[str, bytes]]:
    """(path, content) of every regular file in one layer."""
    with tarfile.open(fileobj=image.archive.extractfile(layer), mode="r:*") as tar:
        for member in tar:
            if member.isfile():
                handle = tar.extractfile(member)
                yield member.name, handle.read() if handle else b""


def names(image: SavedImage, layer: str) -> list[str]:
    """Every path in one layer (files, folders, links, whiteouts)."""
    with tarfile.open(fileobj=image.archive.extractfile(layer), mode="r:*") as tar:
        return tar.getnames()


def raw(image: SavedImage, member: str) -> bytes:
    handle = image.archive.extractfile(member)
    return handle.read() if handle else b""
