"""Image layers as reproducible tar streams, and the archive `docker load` reads.

A layer holds a folder at a path in the image. Every header is decided here, never taken from the
file system: entries sorted, owned by root, one fixed time, modes reduced to 0755/0644. So the same
files give the same bytes, hence the same diff id, on any runner and in any work folder. Because the
bytes are a function of the folder, a layer is never stored: it is made once to learn its size and
diff id, and made again while it is sent to the engine (a model's layer would cost its size on disk).
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

from ..errors import BuildError

# The time of every file in every layer: a constant, so that a layer shared by many models and commits
# (the dependencies, the server) stays byte-identical, and the registry stores it once.
FILE_TIME = 0
CHUNK = 1 << 20


@dataclass(frozen=True)
class Layer:
    folder: Path  # what the layer holds: its tar is made from it again when sent
    target: str  # where the folder lands in the image
    diff_id: str  # sha256 of the uncompressed tar: what the image config lists
    size: int  # bytes of that tar
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


def tar_stream(folder: Path, target: str) -> Iterator[bytes]:
    """The layer's tar, chunk by chunk: byte for byte what tarfile writes in "w|" mode with PAX headers."""
    written = 0
    for info, path in entries(folder, target):
        block = info.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")
        yield block
        written += len(block)
        if path is not None:
            yield from file_chunks(path, info.size)
            yield padding(info.size)
            written += info.size + len(padding(info.size))
    end = b"\0" * (2 * tarfile.BLOCKSIZE)  # then tarfile fills the last record
    yield end + b"\0" * (-(written + len(end)) % tarfile.RECORDSIZE)


def file_chunks(path: Path, size: int) -> Iterator[bytes]:
    """Exactly `size` bytes of the file, as its header promised."""
    with path.open("rb") as content:
        while size:
            chunk = content.read(min(CHUNK, size))
            if not chunk:
                raise changed(f"{path} got shorter")
            size -= len(chunk)
            yield chunk


def changed(what: str) -> BuildError:
    """A file of a layer changed between making its diff id and sending it. Not an OSError: raised inside the
    request body, urllib3 would take that for a dropped connection."""
    return BuildError(
        f"{what} while the image was assembled",
        "let nothing write into the model folder (or the dependency cache) while it is packaged, then rerun",
    )


def measure_layer(folder: Path, target: str, created_by: str) -> Layer:
    sha256, size = hashlib.sha256(), 0
    for chunk in tar_stream(folder, target):
        sha256.update(chunk)
        size += len(chunk)
    return Layer(folder, target, f"sha256:{sha256.hexdigest()}", size, created_by)


def sent(layer: Layer) -> Iterator[bytes]:
    """The layer's tar again, checked against its diff id before the stream may go on."""
    sha256, size = hashlib.sha256(), 0
    for chunk in tar_stream(layer.folder, layer.target):
        sha256.update(chunk)
        size += len(chunk)
        if size > layer.size:
            break
        yield chunk
    if (size, f"sha256:{sha256.hexdigest()}") != (layer.size, layer.diff_id):
        raise changed(f"the files under {layer.folder} changed")


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
        yield member(name, layer.size)
        yield from sent(layer)
        yield padding(layer.size)
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": names}]).encode()
    yield member("manifest.json", len(manifest)) + manifest + padding(len(manifest))
    yield b"\0" * (2 * tarfile.BLOCKSIZE)
