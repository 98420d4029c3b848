"""Image layers as reproducible tar files, and the archive `docker load` reads.

A layer holds a folder at a path in the image. Every header is decided here, never taken from the
file system: entries sorted, owned by root, one fixed time, modes reduced to 0755/0644. So the same
files give the same bytes, hence the same diff id, on any runner and in any work folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The time of every file in every layer: a constant, so that a layer shared by many models and commits
# (the dependencies, the server) stays byte-identical, and the registry stores it once.
FILE_TIME = 0
CHUNK = 1 << 20


@dataclass(frozen=True)
class Layer:
    tar: Path  # the uncompressed layer, in the work folder
    diff_id: str  # sha256 of it: what the image config lists
    created_by: str  # its line in the image history


def header(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, link
    info.mtime, info.uid, info.gid, info.uname, info.gname = FILE_TIME, 0, 0, "", ""
    return info


def entries(folder: Path, target: str) -> Iterator[tuple[tarfile.TarInfo, Path | None]]:
    """The folder's tree under `target` (e.g. opt/onnx-serve/deps), parents first, sorted by name."""
    parts = target.strip("/").split("/")
    for depth in range(2, len(parts) + 1):  # opt/ exists in every base; opt/onnx-serve/ and below are ours
        yield header("/".join(parts[:depth]), tarfile.DIRTYPE, 0o755), None
    for path in sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix()):
        name = f"{target.strip('/')}/{path.relative_to(folder).as_posix()}"
        if path.name == ".complete":
            continue  # the dependency cache's marker
        if path.is_symlink():
            yield header(name, tarfile.SYMTYPE, 0o777, link=os.readlink(path)), None
        elif path.is_dir():
            yield header(name, tarfile.DIRTYPE, 0o755), None
        else:
            executable = path.stat().st_mode & 0o100
            yield header(name, tarfile.REGTYPE, 0o755 if executable else 0o644, path.stat().st_size), path


class Hashing(io.RawIOBase):
    """A write-only file that hashes what passes through it on the way to another file."""

    def __init__(self, out: io.BufferedWriter) -> None:
        self.out, self.sha256 = out, hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.sha256.update(data)
        return self.out.write(data)


class ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (the engine's streamed answer)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks, self.pending = iter(chunks), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            self.pending = next(self.chunks, b"")
            if not self.pending:
                return 0
        size = min(len(buffer), len(self.pending))
        buffer[:size], self.pending = self.pending[:size], self.pending[size:]
        return size


def write_layer(folder: Path, target: str, dest: Path, created_by: str) -> Layer:
    with dest.open("wb") as out:
        hashing = Hashing(out)
        with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for info, path in entries(folder, target):
                if path is None:
                    tar.addfile(info)
                else:
                    with path.open("rb") as content:
                        tar.addfile(info, content)
    return Layer(dest, f"sha256:{hashing.sha256.hexdigest()}", created_by)


def member(name: str, size: int) -> bytes:
    return header(name, tarfile.REGTYPE, 0o644, size).tobuf(tarfile.USTAR_FORMAT)


def padding(size: int) -> bytes:
    return b"\0" * (-size % tarfile.BLOCKSIZE)


def docker_archive(config: bytes, base_layers: int, layers: Iterable[Layer], tag: str) -> Iterator[bytes]:
    """`docker save`'s format, streamed: the config, our layers, and a manifest that lists the base's
    layers too. The engine skips reading a layer it already has, so the base's need not be sent."""
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    names = [f"base-{index}/layer.tar" for index in range(base_layers)]
    yield member(config_name, len(config)) + config + padding(len(config))
    for layer in layers:
        name = f"{layer.diff_id.removeprefix('sha256:')}/layer.tar"
        names.append(name)
        size = layer.tar.stat().st_size
        yield member(name, size)
        with layer.tar.open("rb") as content:
            while chunk := content.read(CHUNK):
                yield chunk
        yield padding(size)
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": names}]).encode()
    yield member("manifest.json", len(manifest)) + manifest + padding(len(manifest))
    yield b"\0" * (2 * tarfile.BLOCKSIZE)
