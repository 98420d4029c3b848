"""resolve_base against the real engine and a real registry (behind a fault proxy): a tag resolved to the
registry's digest, a digest pin, a base without python3, Debian trixie's Python 3.13, the offline fallback,
and the registry's 429."""

from __future__ import annotations

import contextlib
import io
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from docker.errors import NotFound

from fault_proxy import FaultProxy
from onnx_package import retry
from onnx_package.errors import BuildError
from onnx_package.image.base_image import BaseImage, resolve_base
from onnx_package.registry.auth import RegistryAuth
from onnx_package.report import Reporter
from onnx_package.settings import Settings

pytestmark = pytest.mark.engine

TRIXIE_IMAGE = "onnx-package-test/base:trixie"
FAST = retry.Policy(attempts=3, first_delay=0.1, max_delay=5.0, budget=60.0)


@dataclass
class Served:
    """The bookworm base pushed to a real registry, reached through a fault proxy."""

    registry_path: str  # the path on the registry itself
    proxy: FaultProxy
    repo: str  # proxy.host/path: the name the engine and resolve_base use
    digest: str  # what the registry serves for the tag, asked directly

    @property
    def tag_ref(self) -> str:
        return f"{self.repo}:1"


def untag(client, *refs: str) -> None:
    """Remove these names; the image keeps its others (the base its own)."""
    for ref in refs:
        with contextlib.suppress(NotFound):
            client.images.remove(ref)


def push(client, repo: str, tag: str) -> None:
    for chunk in client.api.push(repo, tag=tag, stream=True, decode=True):
        assert "error" not in chunk, chunk


@pytest.fixture(scope="module")
def served(docker_client, base_image, registry_factory) -> Iterator[Served]:
    registry = registry_factory()
    proxy = FaultProxy(registry.url).start()
    path = "base-image-test/bookworm"
    repo = f"{proxy.host}/{path}"
    docker_client.api.tag(base_image, repo, "1")
    push(docker_client, repo, "1")
    digest = registry.manifest_digest(path, "1")
    assert digest
    yield Served(path, proxy, repo, digest)
    proxy.stop()
    untag(docker_client, f"{repo}:1", f"{repo}@{digest}")


def resolve(client, base_image: str, policy: retry.Policy = FAST) -> tuple[BaseImage, str]:
    settings = Settings(base_image=base_image)
    log = io.StringIO()
    return resolve_base(client, settings, RegistryAuth(settings), Reporter(log), policy), log.getvalue()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def probes_left(client) -> list[str]:
    return [c.name for c in client.containers.list(all=True, filters={"label": "io.github.onnx-package.probe"})]


def test_a_tag_is_resolved_to_the_registry_s_digest_not_the_stale_local_tag(
    docker_client, base_image, served, tiny_image
):
    bookworm = docker_client.images.get(base_image).id
    tiny_image(served.tag_ref)  # the engine's tag now names another image: a stale tag on a self-hosted runner
    served.proxy.reset_counters()
    base, _ = resolve(docker_client, served.tag_ref)
    asked = [(method, path) for method, path, _ in served.proxy.forwarded if path.endswith("/manifests/1")]
    assert asked == [("HEAD", f"/v2/{served.registry_path}/manifests/1")]  # a HEAD: no pull counted on Docker Hub
    assert base.digest == served.digest  # the registry's, asked independently (HEAD) by the fixture
    assert base.reference == f"{served.repo}@{served.digest}"
    assert (base.image_id, base.python, base.arch) == (bookworm, "3.11", "x86_64")
    assert base.labels() == {
        "org.opencontainers.image.base.name": served.tag_ref,
        "org.opencontainers.image.base.digest": served.digest,
    }
    assert probes_left(docker_client) == []


def test_a_digest_pin_is_taken_as_is_without_asking_the_registry(docker_client, served):
    pin = f"{served.repo}@{served.digest}"
    resolve(docker_client, pin)  # the engine now has the pin
    served.proxy.reset_counters()
    base, _ = resolve(docker_client, pin)
    assert (base.digest, base.reference, base.python) == (served.digest, pin, "3.11")
    assert sum(served.proxy.requests.values()) == 0


def test_a_digest_pin_the_engine_lacks_is_pulled_by_digest(docker_client, base_image, served):
    pin = f"{served.repo}@{served.digest}"
    untag(docker_client, served.tag_ref, pin)  # the engine no longer knows the image under the registry's name
    served.proxy.reset_counters()
    base, _ = resolve(docker_client, pin)
    pulled = docker_client.images.get(base_image)
    assert base.image_id == pulled.id and base.digest == served.digest
    assert pin in pulled.attrs["RepoDigests"]  # the engine's pull recorded it
    assert served.proxy.forwarded  # and asked the registry (engine 20.10: a GET /v2/, a HEAD of the manifest)


def test_a_base_without_python3_is_refused_before_the_build(docker_client, docker_cleanup, tiny_image):
    name = tiny_image(f"{docker_cleanup.prefix}/no-python:1")  # one text file: no python3, no shell
    with pytest.raises(BuildError) as caught:
        resolve(docker_client, name)
    assert caught.value.cause == f"base-image {name} has no python3"
    assert "Debian/Ubuntu image with python3 installed" in caught.value.fix
    assert "\n" not in str(caught.value)
    assert probes_left(docker_client) == []


def test_debian_trixie_has_python_3_13(docker_client):
    try:
        trixie = docker_client.images.get(TRIXIE_IMAGE).id
    except NotFound:
        pytest.fail(f"{TRIXIE_IMAGE} is missing: run scripts/setup-machine.sh", pytrace=False)
    base, _ = resolve(docker_client, TRIXIE_IMAGE)
    assert (base.python, base.arch, base.image_id) == ("3.13", "x86_64", trixie)


def test_offline_a_local_only_image_is_used_with_a_warning(docker_client, base_image, docker_cleanup):
    repo = f"127.0.0.1:{closed_port()}/{docker_cleanup.prefix}/local"  # nothing listens there
    docker_client.api.tag(base_image, repo, "1")
    docker_cleanup.image(f"{repo}:1")
    base, log = resolve(docker_client, f"{repo}:1")
    image_id = docker_client.images.get(base_image).id
    assert (base.digest, base.reference, base.image_id, base.python) == ("", image_id, image_id, "3.11")
    assert "warning: base-image" in log and "ConnectionRefusedError" in log and "which no registry pins" in log


def test_offline_the_digest_the_engine_recorded_is_kept(docker_client, base_image, registry, docker_cleanup):
    proxy = FaultProxy(registry.url).start()
    repo = f"{proxy.host}/{docker_cleanup.prefix}/pushed"
    docker_client.api.tag(base_image, repo, "1")
    docker_cleanup.image(f"{repo}:1")
    push(docker_client, repo, "1")
    digest = registry.manifest_digest(f"{docker_cleanup.prefix}/pushed", "1")
    docker_cleanup.image(f"{repo}@{digest}")
    proxy.stop()  # the registry's address now refuses connections
    base, log = resolve(docker_client, f"{repo}:1")
    assert (base.digest, base.reference) == (digest, f"{repo}@{digest}")
    assert f"using the engine's local image {docker_client.images.get(base_image).short_id} ({digest})" in log


def test_neither_registry_nor_engine_says_what_to_do(docker_client, docker_cleanup):
    name = f"127.0.0.1:{closed_port()}/{docker_cleanup.prefix}/absent:1"
    with pytest.raises(BuildError) as caught:
        resolve(docker_client, name)
    assert caught.value.cause.startswith(f"cannot resolve base-image {name} on 127.0.0.1:")
    assert "pull or build" in caught.value.fix and "\n" not in str(caught.value)


def test_a_429_is_retried(docker_client, served):
    served.proxy.inject("429", r"^(HEAD|GET) /v2/.*/manifests/1$", times=2)
    try:
        base, log = resolve(docker_client, served.tag_ref)
    finally:
        served.proxy.faults.clear()
    assert base.digest == served.digest
    assert [kind for kind, _, _ in served.proxy.served_faults[-2:]] == ["429", "429"]
    assert log.count("answered 429") == 2 and "retrying" in log


def test_a_persistent_429_is_reported_as_the_rate_limit(docker_client, served):
    served.proxy.inject("429", r"^(HEAD|GET) /v2/.*/manifests/1$", times=100)
    try:
        with pytest.raises(BuildError) as caught:
            resolve(docker_client, served.tag_ref)
    finally:
        served.proxy.faults.clear()
    host = served.repo.split("/")[0]
    assert caught.value.cause.startswith(f"{host}'s rate limit stopped the pull of base-image {served.tag_ref}")
    assert "429" in caught.value.cause and "(after 3 attempts)" in caught.value.cause
    assert f"log in to {host}" in caught.value.fix and "\n" not in str(caught.value)
