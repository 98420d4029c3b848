"""What can be known of an image for another CPU without running it: its python3, and the CPU of every binary.

On a runner with no emulation registered, a foreign platform's image cannot run here. So its base's python3
is read from the image's files (the version from `python3`'s link, e.g. python3.11; the CPU and libc from the
ELF header), and the image is checked statically: every ELF file the tool adds, and the base's python3, must
be built for that CPU, every shared library those files need (DT_NEEDED) must be among the added files or in
the base's library folders, and every wheel installed must be tagged for it (or for any).
"""

from __future__ import annotations

import functools
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import docker
from docker.models.images import Image

from ..errors import ContainerCheckError
from ..image.engine import engine_id
from ..image.layers import ChunkReader
from .platforms import Platform

PYTHONS = ("/usr/local/bin/python3", "/usr/bin/python3")  # the official python images', then Debian's
VERSIONED = re.compile(r"python(3\.\d+)$")
PT_INTERP = 3
SHT_DYNAMIC, DT_NEEDED = 6, 1
LIBRARY_FOLDERS = ("/lib", "/lib64", "/usr/lib", "/usr/local/lib")  # the loader's, with their subfolders

ByteOrder = Literal["little", "big"]


@dataclass(frozen=True)
class Binary:
    path: str  # where the file really is, links followed
    machine: int | None  # ELF e_machine; None when the file is no ELF
    interpreter: str  # the dynamic loader it names: glibc's ld-linux-*, or musl's ld-musl-*


def elf_header(head: bytes) -> tuple[int, ByteOrder] | None:
    """(e_machine, byte order) of an ELF file's first bytes; None when they are not ELF."""
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    order: ByteOrder = "little" if head[5] == 1 else "big"
    return int.from_bytes(head[18:20], order), order


def unsigned(data: bytes, order: ByteOrder, at: int, size: int) -> int:
    return int.from_bytes(data[at : at + size], order)


def interpreter(data: bytes) -> str:
    """The PT_INTERP path of a 64-bit ELF file ('' when it names none)."""
    found = elf_header(data)
    if not found or data[4] != 2:
        return ""
    number = functools.partial(unsigned, data, found[1])
    table, entry_size, entries = number(0x20, 8), number(0x36, 2), number(0x38, 2)
    for index in range(entries):
        at = table + index * entry_size
        if number(at, 4) == PT_INTERP:
            offset, size = number(at + 8, 8), number(at + 32, 8)
            return data[offset : offset + size].rstrip(b"\0").decode(errors="replace")
    return ""


def needed(data: bytes) -> list[str]:
    """The DT_NEEDED names (the shared libraries it is linked against) of a 64-bit ELF file."""
    found = elf_header(data)
    if not found or data[4] != 2:
        return []
    number = functools.partial(unsigned, data, found[1])
    table, entry_size, entries = number(0x28, 8), number(0x3A, 2), number(0x3C, 2)
    sections = [
        (number(at + 4, 4), number(at + 0x18, 8), number(at + 0x20, 8), number(at + 0x28, 4))
        for at in range(table, table + entry_size * entries, entry_size)
    ]  # type, offset, size, link
    names: list[str] = []
    for kind, offset, size, link in sections:
        if kind == SHT_DYNAMIC:
            strings = sections[link][1]
            for at in range(offset, offset + size, 16):
                if number(at, 8) == DT_NEEDED:
                    start = strings + number(at + 8, 8)
                    names.append(data[start : data.index(b"\0", start)].decode(errors="replace"))
    return names


def read_file(client: docker.DockerClient, container_id: str, path: str) -> tuple[str, bytes] | None:
    """(the real path, the content) of a file in a created (never started) container; None when absent."""
    try:
        stream, stat = client.api.get_archive(container_id, path)
    except docker.errors.NotFound:
        return None
    real = stat.get("linkTarget") or path
    if real != path:
        stream, _ = client.api.get_archive(container_id, real)
    with tarfile.open(fileobj=ChunkReader(stream), mode="r|") as tar:
        for member in tar:
            content = tar.extractfile(member)
            if content is not None:
                return real, content.read()
    return None


def base_python(client: docker.DockerClient, image: Image) -> tuple[str, Binary]:
    """The base's python3 version (major.minor) and binary, read from its files; '' when no link names it."""
    container = client.containers.create(
        engine_id(image),
        entrypoint=["python3"],
        command=[],
        network_disabled=True,
        labels={"io.github.onnx-package.probe": "1"},
    )
    try:
        found = next((hit for path in PYTHONS if (hit := read_file(client, engine_id(container), path))), None)
    finally:
        container.remove(force=True)
    if found is None:
        return "", Binary("", None, "")
    real, content = found
    header = elf_header(content)
    binary = Binary(real, header[0] if header else None, interpreter(content))
    match = VERSIONED.search(real) or version_from_env(image)
    return (match.group(1) if match else ""), binary


def base_libraries(client: docker.DockerClient, image_id: str) -> set[str]:
    """The names of the files and links in the base's library folders, read from a created (never started)
    container."""
    container = client.containers.create(
        image_id,
        entrypoint=["python3"],
        command=[],
        network_disabled=True,
        labels={"io.github.onnx-package.probe": "1"},
    )
    names: set[str] = set()
    try:
        for folder in LIBRARY_FOLDERS:
            try:
                stream, _ = client.api.get_archive(engine_id(container), folder)
            except docker.errors.NotFound:
                continue
            with tarfile.open(fileobj=ChunkReader(stream), mode="r|") as tar:
                names.update(member.name.rsplit("/", 1)[-1] for member in tar if not member.isdir())
    finally:
        container.remove(force=True)
    return names


def version_from_env(image: Image) -> re.Match[str] | None:
    """PYTHON_VERSION=3.12.1, as the official python images set it."""
    for item in image.attrs.get("Config", {}).get("Env") or []:
        if item.startswith("PYTHON_VERSION="):
            return re.match(r"PYTHON_VERSION=(3\.\d+)", item)
    return None


# ---------------------------------------------------------------- the static check


@dataclass(frozen=True)
class Inspected:
    elf_files: int
    wheels: int

    def line(self, platform: Platform) -> str:
        return (
            f"{platform.name}: inspected, not run: {self.elf_files} ELF files and the base's python3 are "
            f"{platform.machine}, {self.wheels} wheels are tagged for it or for any"
        )


def elf_files(folders: list[Path]) -> list[tuple[Path, int]]:
    """Every ELF file under the folders, with its e_machine."""
    found = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                with path.open("rb") as stream:
                    header = elf_header(stream.read(20))
                if header:
                    found.append((path, header[0]))
    return found


def wheel_platforms(report: Path) -> dict[str, list[str]]:
    """wheel file name -> its platform tags, from pip's installation report."""
    wheels = {}
    for item in json.loads(report.read_text()).get("install", []):
        name = str(item.get("download_info", {}).get("url", "")).rsplit("/", 1)[-1]
        if name.endswith(".whl"):
            wheels[name] = name.removesuffix(".whl").split("-")[-1].split(".")
    return wheels


def check_statically(
    platform: Platform, base_binary: Binary, folders: list[Path], report: Path, base_files: set[str], python: str
) -> Inspected:
    """Every binary and wheel is for `platform`'s CPU, and every library a binary needs is added or in the base
    (`base_files`: the names in its library folders); ContainerCheckError naming the first that is not."""
    fix = (
        f"check base-image's {platform.name} image and the wheels resolved for it; or register QEMU "
        "(docker/setup-qemu-action) so that the image is run here"
    )
    if base_binary.machine != platform.elf_machine:
        raise ContainerCheckError(
            f"the {platform.name} base image's python3 ({base_binary.path}) is not a "
            f"{platform.machine} binary (ELF machine {base_binary.machine})",
            fix,
        )
    binaries = elf_files(folders)
    for path, machine in binaries:
        if machine != platform.elf_machine:
            raise ContainerCheckError(
                f"{path.name} in the {platform.name} image is not a {platform.machine} binary (ELF machine {machine})",
                fix,
            )
    added = {path.name for folder in folders for path in folder.rglob("*")}
    for path, _ in binaries:
        for library in needed(path.read_bytes()):
            if library not in added and library not in base_files:
                raise ContainerCheckError(
                    f"the base image {platform.name} lacks {library}, which {path.name} needs",
                    f"use a base with it, e.g. python:{python or '3'}-slim",
                )
    wheels = wheel_platforms(report)
    for name, tags in wheels.items():
        if not all(tag == "any" or tag.endswith(f"_{platform.machine}") for tag in tags):
            raise ContainerCheckError(
                f"the wheel {name} in the {platform.name} image is not for {platform.machine}", fix
            )
    return Inspected(len(binaries), len(wheels))
