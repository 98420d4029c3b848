"""The `platforms` input: which linux/<arch> images to build, and which of them this runner can run.

Every platform is built without emulation (the image has no RUN step; the wheels are resolved by pip for a
named platform). Only the check needs to run the image: on the engine's own platform as ever, on another one
under QEMU when binfmt_misc has it registered (docker/setup-qemu-action), else it is inspected statically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import docker

from ..errors import SettingsError

BINFMT = Path("/proc/sys/fs/binfmt_misc")


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str  # the OCI name: amd64, arm64

    @property
    def name(self) -> str:
        return f"{self.os}/{self.architecture}"

    @property
    def machine(self) -> str:
        """The kernel's and pip's name: x86_64, aarch64."""
        return MACHINES[self.architecture]

    @property
    def elf_machine(self) -> int:
        """e_machine of this CPU's ELF files."""
        return ELF_MACHINES[self.architecture]


MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}
ELF_MACHINES = {"amd64": 62, "arm64": 183}  # EM_X86_64, EM_AARCH64
ALIASES = {"linux/arm64/v8": "linux/arm64"}  # buildx's spelling of the same platform
SUPPORTED = tuple(f"linux/{arch}" for arch in MACHINES)
FIX = (
    f"use {' or '.join(SUPPORTED)}, or both comma-separated as docker/build-push-action takes them: "
    f"{','.join(SUPPORTED)}"
)


def parse_platforms(given: tuple[str, ...]) -> tuple[Platform, ...]:
    """`linux/amd64,linux/arm64` (commas, spaces or lines), in the order given, each once."""
    items = [item.strip().lower() for item in ",".join(given).split(",") if item.strip()]
    names = [ALIASES.get(item, item) for item in items]
    if not names:
        raise SettingsError("platforms is empty", FIX)
    for name in names:
        if name not in SUPPORTED:
            raise SettingsError(
                f"platforms names {name!r}, which this tool cannot build "
                f"(the serving wheels exist for {', '.join(SUPPORTED)})",
                FIX,
            )
    return tuple(Platform(*name.split("/")) for name in dict.fromkeys(names))


def engine_platform(client: docker.DockerClient) -> Platform:
    """The platform the engine runs natively (`docker info`: OSType, Architecture)."""
    info = client.info()
    machine = str(info.get("Architecture") or "")
    arch = next((oci for oci, name in MACHINES.items() if name == machine or oci == machine), machine)
    return Platform(str(info.get("OSType") or "linux"), arch)


def emulated(platform: Platform) -> bool:
    """QEMU user emulation registered and enabled for this CPU (binfmt_misc, as docker/setup-qemu-action does)."""
    entry = BINFMT / f"qemu-{platform.machine}"
    try:
        return entry.read_text().startswith("enabled")
    except OSError:
        return False
