"""Root fixtures: the Docker engine, the local base image, real local registries, cleanup.

Everything here is real: the Docker engine started by scripts/setup-machine.sh and Debian's
`docker-registry` (distribution v2) started on 127.0.0.1 with a free port.

Fixtures
    docker_client      docker.DockerClient (session)
    base_image         "onnx-package-test/base:bookworm" (session; asserted present)
    registry_factory   start(auth=False, tls=False) -> Registry (session; all stopped at the end)
    registry           plain HTTP registry (session)
    auth_registry      htpasswd basic auth over HTTP (session)
    tls_registry       HTTPS with a test CA (session)
    tiny_image         make(ref) -> ref: a one-file image, made in a second without a build
    docker_cleanup     DockerCleanup: removes what the test made (function)

Docker treats 127.0.0.0/8 registries as insecure, always: for the TLS registry the engine
speaks HTTPS but does not verify the certificate (and falls back to HTTP for plain ones).
The session registries are shared by all tests: put `docker_cleanup.prefix` in repository names.
The classes (DockerCleanup, Registry) live in tests/support/testbed.py: import them from there
(`from testbed import Registry`), never from a conftest.py.

The test CA is still installed in /etc/docker/certs.d/<host>/ca.crt as for a real registry;
code that talks to the registry itself (digest checks) must use `Registry.ca_file`.
"""

from __future__ import annotations

import datetime
import io
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest
from docker.errors import DockerException, NotFound

from testbed import DOCKER_CERTS_D, TEST_LABEL, DockerCleanup, Registry

BASE_IMAGE = "onnx-package-test/base:bookworm"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REGISTRY_BIN = "/usr/bin/docker-registry"


def _missing(reason: str) -> None:
    """Skip for a missing part of the machine on a developer's machine; fail under CI."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: run scripts/setup-machine.sh)", pytrace=False)
    pytest.skip(f"{reason}: run scripts/setup-machine.sh")


# ---------------------------------------------------------------- the engine


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    if "DOCKER_HOST" not in os.environ and not Path("/var/run/docker.sock").exists():
        _missing("no Docker engine: /var/run/docker.sock is absent")
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except DockerException as exc:
        pytest.fail(f"the Docker engine does not answer: {exc}", pytrace=False)
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_client: docker.DockerClient) -> str:
    try:
        docker_client.images.get(BASE_IMAGE)
    except NotFound:
        pytest.fail(f"{BASE_IMAGE} is missing: run scripts/setup-machine.sh", pytrace=False)
    return BASE_IMAGE


@pytest.fixture
def docker_cleanup(docker_client: docker.DockerClient) -> Iterator[DockerCleanup]:
    cleanup = DockerCleanup(docker_client)
    yield cleanup
    cleanup.run()


@pytest.fixture
def tiny_image(docker_client: docker.DockerClient, docker_cleanup: DockerCleanup) -> Callable[[str], str]:
    """make(ref) imports a one-file image (unique content) as `ref` and returns it; removed after the test."""

    def make(ref: str) -> str:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            data = f"{ref} {uuid.uuid4()}\n".encode()
            info = tarfile.TarInfo("hello.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
        docker_client.api.import_image_from_data(
            buf.getvalue(), repository=repo, tag=tag, changes=[f"LABEL {TEST_LABEL}=1", 'CMD ["/hello.txt"]']
        )
        return docker_cleanup.image(f"{repo}:{tag}")

    return make


# ---------------------------------------------------------------- registries


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class CertAuthority:
    """A test certificate authority and one server certificate for 127.0.0.1 / localhost."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def _make_test_ca(directory: Path) -> CertAuthority:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def builder(subject: str, issuer: str, key: ec.EllipticCurvePrivateKey, ca: bool) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )

    ca_name = "onnx-package test CA"
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        builder(ca_name, ca_name, ca_key, ca=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_cert = (
        builder("127.0.0.1", ca_name, server_key, ca=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca = CertAuthority(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    ca.ca_file.write_bytes(ca_cert.public_bytes(pem))
    ca.cert_file.write_bytes(server_cert.public_bytes(pem))
    ca.key_file.write_bytes(
        server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> CertAuthority:
    return _make_test_ca(tmp_path_factory.mktemp("test-ca"))


def _start_registry(root: Path, auth: bool, ca: CertAuthority | None) -> Registry:
    """Start docker-registry on a free port and wait (bounded) until /v2/ answers."""
    username = password = None
    config: dict[str, object] = {
        "version": "0.1",
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}, "delete": {"enabled": True}},
    }
    if auth:
        username, password = "tester", f"pw-{uuid.uuid4().hex[:12]}"
        line = subprocess.run(
            ["htpasswd", "-Bbn", username, password], check=True, capture_output=True, text=True, timeout=30
        ).stdout.strip()
        (root / "htpasswd").write_text(line + "\n")
        config["auth"] = {"htpasswd": {"realm": "onnx-package-test", "path": str(root / "htpasswd")}}

    last_error = ""
    for _attempt in range(3):  # another process may take the free port before the registry binds it
        port = _free_port()
        http: dict[str, object] = {"addr": f"127.0.0.1:{port}", "secret": uuid.uuid4().hex}
        if ca:
            http["tls"] = {"certificate": str(ca.cert_file), "key": str(ca.key_file)}
        (root / "config.yml").write_text(json.dumps({**config, "http": http}, indent=2))  # JSON is YAML
        log = (root / "registry.log").open("wb")
        process = subprocess.Popen(
            [REGISTRY_BIN, "serve", str(root / "config.yml")], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        registry = Registry(
            host=f"127.0.0.1:{port}",
            url=f"{'https' if ca else 'http'}://127.0.0.1:{port}",
            username=username,
            password=password,
            ca_file=ca.ca_file if ca else None,
            root=root,
            process=process,
        )
        try:
            ready = _wait_ready(registry, timeout=20)
        except BaseException:
            registry.stop()
            raise
        if ready:
            if ca:
                _trust_in_docker(registry.host, ca.ca_file)
            return registry
        registry.stop()
        last_error = (root / "registry.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"docker-registry did not start in {root}:\n{last_error}")


def _wait_ready(registry: Registry, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and registry.process.poll() is None:
        try:
            with httpx.Client(verify=registry.verify, timeout=2) as client:
                if client.get(f"{registry.url}/v2/").status_code in (200, 401):
                    return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


def _trust_in_docker(host: str, ca_file: Path) -> None:
    """Install the CA where dockerd looks for a registry's CA (read at each push, no restart)."""
    try:
        target = DOCKER_CERTS_D / host
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(ca_file, target / "ca.crt")
    except PermissionError:
        pass  # not root: docker skips verification for 127.0.0.0/8 anyway


@pytest.fixture(scope="session")
def registry_factory(
    tmp_path_factory: pytest.TempPathFactory, test_ca: CertAuthority
) -> Iterator[Callable[..., Registry]]:
    """start(auth=False, tls=False) -> a new Registry with its own storage; all stop at session end."""
    if not Path(REGISTRY_BIN).exists():
        _missing(f"{REGISTRY_BIN} is missing (Debian package docker-registry)")
    started: list[Registry] = []

    def start(auth: bool = False, tls: bool = False) -> Registry:
        registry = _start_registry(tmp_path_factory.mktemp("registry"), auth, test_ca if tls else None)
        started.append(registry)
        return registry

    yield start
    for registry in started:
        registry.stop()


@pytest.fixture(scope="session")
def registry(registry_factory: Callable[..., Registry]) -> Registry:
    return registry_factory()


@pytest.fixture(scope="session")
def auth_registry(registry_factory: Callable[..., Registry]) -> Registry:
    return registry_factory(auth=True)


@pytest.fixture(scope="session")
def tls_registry(registry_factory: Callable[..., Registry]) -> Registry:
    return registry_factory(tls=True)
