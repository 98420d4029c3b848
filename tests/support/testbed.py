"""The test bed's classes, shared by the fixtures (tests/conftest.py) and the tests' type hints.

DockerCleanup   removes at teardown the containers and images a test made (fixture docker_cleanup)
Registry        a running `docker-registry serve` on 127.0.0.1 (fixtures registry, auth_registry, tls_registry)
"""

from __future__ import annotations

import base64
import datetime
import json
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
import httpx
from docker.errors import APIError, NotFound

from processes import stop as stop_process

TEST_LABEL = "org.onnx-package.test"
DOCKER_CERTS_D = Path("/etc/docker/certs.d")
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)


@dataclass
class DockerCleanup:
    """Removes at teardown the containers and images a test made.

    That is: those added with `container()` / `image()`, those whose name or tag contains
    `prefix` (unique per test: name what you make with it), and those labelled
    `org.onnx-package.test=1` created since the test started (on a machine where two suites run
    at once, that can include the other suite's: CI runs one).
    """

    client: docker.DockerClient
    prefix: str = field(default_factory=lambda: f"onnx-package-test-{uuid.uuid4().hex[:8]}")
    started: float = field(default_factory=time.time)
    containers: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)

    def container(self, id_or_name: str) -> str:
        self.containers.append(id_or_name)
        return id_or_name

    def image(self, ref: str) -> str:
        self.images.append(ref)
        return ref

    def run(self) -> None:
        label = {"label": f"{TEST_LABEL}=1"}
        for c in self.client.containers.list(all=True, ignore_removed=True):
            labelled = c.labels.get(TEST_LABEL) == "1" and _created(c.attrs["Created"]) >= self.started - 1
            if c.id in self.containers or c.name in self.containers or self.prefix in c.name or labelled:
                _quietly(lambda c=c: c.remove(force=True, v=True))
        for name in self.containers:
            _quietly(lambda name=name: self.client.containers.get(name).remove(force=True, v=True))
        refs = list(self.images)
        for img in self.client.images.list():
            refs += [tag for tag in img.tags if self.prefix in tag]
        for img in self.client.images.list(filters=label):
            if _created(img.attrs["Created"]) >= self.started - 1:
                refs += img.tags or [img.id]
        for ref in dict.fromkeys(refs):
            _quietly(lambda ref=ref: self.client.images.remove(ref, force=True))


def _created(stamp: str) -> float:
    """A Docker 'Created' time (RFC 3339 with nanoseconds) as a Unix time."""
    date, _, frac = stamp.rstrip("Z").partition(".")
    when = datetime.datetime.fromisoformat(date).replace(tzinfo=datetime.UTC)
    return when.timestamp() + float(f"0.{frac[:6] or 0}")


def _quietly(action: Callable[[], object]) -> None:
    """Best effort: already gone, or (409) still the parent of an image another test holds."""
    try:
        action()
    except NotFound:
        pass
    except APIError as err:
        if err.status_code != 409:
            raise


@dataclass
class Registry:
    """A running `docker-registry serve` on 127.0.0.1."""

    host: str  # "127.0.0.1:PORT"
    url: str  # "http://127.0.0.1:PORT" or "https://..."
    username: str | None
    password: str | None
    ca_file: Path | None  # the CA that signed the TLS certificate
    root: Path  # config, storage, log
    process: subprocess.Popen[bytes]

    @property
    def auth(self) -> tuple[str, str] | None:
        return (self.username, self.password) if self.username and self.password else None

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """httpx's `verify` for this registry: trusts the test CA when it has one."""
        return ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else True

    @property
    def auth_config(self) -> dict[str, str] | None:
        """For the docker SDK: `client.images.push(..., auth_config=registry.auth_config)`."""
        return {"username": self.username, "password": self.password} if self.auth else None

    def http(self) -> httpx.Client:
        """An httpx client for the registry's API, with its auth and CA."""
        return httpx.Client(base_url=self.url, auth=self.auth, verify=self.verify, timeout=30)

    def manifest_digest(self, repo: str, tag: str) -> str | None:
        """Docker-Content-Digest of repo:tag (docker v2 or OCI manifest / index); None if absent."""
        with self.http() as client:
            resp = client.head(f"/v2/{repo}/manifests/{tag}", headers={"Accept": ", ".join(MANIFEST_TYPES)})
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        return resp.headers["Docker-Content-Digest"]

    def write_docker_config(self, directory: Path) -> Path:
        """Write a `docker login`-style config.json for this registry into directory; use as DOCKER_CONFIG."""
        directory.mkdir(parents=True, exist_ok=True)
        auths = {}
        if self.auth:
            auths[self.host] = {"auth": base64.b64encode(f"{self.username}:{self.password}".encode()).decode()}
        (directory / "config.json").write_text(json.dumps({"auths": auths}, indent=2))
        return directory

    def stop(self) -> None:
        stop_process(self.process)
        if self.ca_file:
            shutil.rmtree(DOCKER_CERTS_D / self.host, ignore_errors=True)
