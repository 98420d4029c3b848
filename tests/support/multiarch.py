"""A two-platform base image for the multi-platform tests, made without running any arm64 binary.

linux/amd64 is setup-machine.sh's base; linux/arm64 is Debian bookworm's arm64 packages unpacked by
`mmdebstrap --variant=extract` (nothing runs). This engine ignores `docker import --platform`, so the arm64
image gets its platform from a config written here and pushed through the registry API, and an OCI index over
both platforms goes under one tag: the tag then resolves per platform, as python:3.12-slim does.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import urllib.parse
from pathlib import Path

import docker

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
PACKAGES = "python3-minimal,libpython3.11-stdlib,ca-certificates,libstdc++6"  # numpy and onnxruntime need libstdc++
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BINFMT = Path("/proc/sys/fs/binfmt_misc")
AARCH64 = BINFMT / "qemu-aarch64"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def arm64_rootfs(dest: Path, packages: str = PACKAGES) -> Path:
    """bookworm's python3 for arm64, as one tar; only unpacked (no maintainer script runs)."""
    tar = dest / "bookworm-arm64.tar"
    subprocess.run(
        ["mmdebstrap", "--variant=extract", "--architectures=arm64", f"--include={packages}", "bookworm", str(tar)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return tar


def upload(http, repo: str, data: bytes) -> str:  # http: the registry's httpx client
    found = digest(data)
    if http.head(f"/v2/{repo}/blobs/{found}").status_code == 200:
        return found
    started = http.post(f"/v2/{repo}/blobs/uploads/").raise_for_status()
    location = started.headers["Location"]
    separator = "&" if "?" in location else "?"
    http.put(
        f"{location}{separator}{urllib.parse.urlencode({'digest': found})}",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    ).raise_for_status()
    return found


def put_manifest(http, repo: str, reference: str, content: dict, media_type: str) -> tuple[str, int]:
    body = json.dumps(content).encode()
    http.put(f"/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": media_type}).raise_for_status()
    return digest(body), len(body)


def arm64_image(http, repo: str, rootfs: Path) -> dict:
    """The arm64 rootfs as an image in `repo`, by digest; its descriptor for an index."""
    layer = rootfs.read_bytes()
    config = json.dumps(
        {
            "architecture": "arm64",
            "variant": "v8",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {"Env": [PATH, "LANG=C.UTF-8"], "Cmd": ["python3"]},
            "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": f"mmdebstrap --include={PACKAGES}"}],
        }
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": upload(http, repo, config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": upload(http, repo, layer), "size": len(layer)}],
    }
    found, size = put_manifest(http, repo, digest(json.dumps(manifest).encode()), manifest, OCI_MANIFEST)
    return {
        "mediaType": OCI_MANIFEST,
        "digest": found,
        "size": size,
        "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
    }


def amd64_image(client: docker.DockerClient, registry, repo: str, local: str) -> dict:
    """setup-machine.sh's amd64 base pushed by the engine under a scratch tag of this test repository."""
    client.api.tag(local, f"{registry.host}/{repo}", "amd64")
    for _ in client.api.push(f"{registry.host}/{repo}", tag="amd64", stream=True, decode=True):
        pass
    with registry.http() as http:
        answer = http.get(
            f"/v2/{repo}/manifests/amd64", headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
        ).raise_for_status()
    return {
        "mediaType": answer.headers["Content-Type"],
        "digest": digest(answer.content),
        "size": len(answer.content),
        "platform": {"architecture": "amd64", "os": "linux"},
    }


def publish_base(client: docker.DockerClient, registry, repo: str, local_amd64: str, rootfs: Path) -> str:
    """`registry/repo:bookworm`, an index of linux/amd64 and linux/arm64; its reference."""
    amd64 = amd64_image(client, registry, repo, local_amd64)
    with registry.http() as http:
        arm64 = arm64_image(http, repo, rootfs)
        put_manifest(
            http, repo, "bookworm", {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [amd64, arm64]}, OCI_INDEX
        )
    return f"{registry.host}/{repo}:bookworm"


def publish_amd64_only(client: docker.DockerClient, registry, repo: str, local_amd64: str) -> str:
    """`registry/repo:amd64`: a plain amd64 manifest, no index."""
    amd64_image(client, registry, repo, local_amd64)
    return f"{registry.host}/{repo}:amd64"


def emulation_registered() -> bool:
    return AARCH64.is_file() and AARCH64.read_text().startswith("enabled")


def set_emulation(enabled: bool) -> None:
    """Enable or disable the registered aarch64 emulator (root; the registration itself stays)."""
    AARCH64.write_text("1" if enabled else "0")
