"""The pin contract end to end: the same inputs give the same image and digest from two clean work folders,
a rerun sends nothing, the base is pinned by digest and recorded; the base's own Python chooses the wheels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli_runs import package_local, serve
from fault_proxy import FaultProxy

pytestmark = pytest.mark.engine

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sentiment"
EPOCH = "1700000000"  # 2023-11-14T22:13:20Z
TRIXIE_IMAGE = "onnx-package-test/base:trixie"


def package(folder: Path, *args: str, epoch: str = EPOCH):
    """One run in a work folder and dependency cache of its own, as on a fresh runner."""
    folder.mkdir()
    env = {"XDG_CACHE_HOME": str(folder / "cache"), "SOURCE_DATE_EPOCH": epoch, "DOCKER_CONFIG": str(folder)}
    return package_local(folder, EXAMPLE, *args, env=env)


@pytest.fixture
def pinned_base(docker_client, base_image, registry, docker_cleanup) -> tuple[str, str]:
    """The test base pushed to a real registry under a tag: (the tag's reference, its digest there)."""
    path = f"{docker_cleanup.prefix}/base"
    docker_client.api.tag(base_image, f"{registry.host}/{path}", "bookworm")
    ref = docker_cleanup.image(f"{registry.host}/{path}:bookworm")
    for chunk in docker_client.api.push(f"{registry.host}/{path}", tag="bookworm", stream=True, decode=True):
        assert "error" not in chunk, chunk
    digest = registry.manifest_digest(path, "bookworm")
    assert digest
    return ref, digest


@pytest.fixture
def proxy(registry) -> Iterator[FaultProxy]:
    """The registry behind a proxy that counts the bytes sent to it."""
    with FaultProxy(registry.url) as started:
        yield started


def test_two_clean_builds_give_one_image_and_the_rerun_sends_nothing(
    tmp_path, docker_client, proxy, pinned_base, docker_cleanup
):
    base_ref, base_digest = pinned_base
    repo = f"{proxy.host}/{docker_cleanup.prefix}/sentiment"
    args = ("--images", repo, "--tags", "v1", "--base-image", base_ref)

    first = package(tmp_path / "one", *args)
    assert first.code == 0, first.stderr
    docker_cleanup.image(f"{repo}:v1")
    assert proxy.uploaded > 10_000_000  # the layers went up once
    docker_client.images.remove(f"{repo}:v1", force=True)  # another runner: not even the image is local
    proxy.reset_counters()

    second = package(tmp_path / "two", *args)

    assert second.code == 0, second.stderr
    assert second.outputs["image-id"] == first.outputs["image-id"]
    assert second.outputs["digest"] == first.outputs["digest"]
    assert "already there: nothing sent" in second.stderr and "already there" in second.stderr.split("reference")[-1]
    assert proxy.uploaded == 0, f"the rerun sent {proxy.uploaded} bytes"

    labels = docker_client.images.get(first.outputs["image-id"]).labels
    assert labels["org.opencontainers.image.base.name"] == base_ref
    assert labels["org.opencontainers.image.base.digest"] == base_digest
    assert labels["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    assert docker_client.api.inspect_image(first.outputs["image-id"])["Created"].startswith("2023-11-14T22:13:20")
    assert f"base image {base_ref}: {base_ref.rsplit(':', 1)[0]}@{base_digest}" in first.stderr


def test_another_commit_time_changes_only_the_config(tmp_path, docker_client, base_image):
    """The layers take one fixed file time, so a new commit shares every layer with the last image."""
    first = package(tmp_path / "one", "--push", "false", "--base-image", base_image, "--tags", "t1")
    later = package(tmp_path / "two", "--push", "false", "--base-image", base_image, "--tags", "t2", epoch="1800000000")
    assert first.code == 0 and later.code == 0, first.stderr + later.stderr
    layers = [docker_client.api.inspect_image(run.outputs["image-id"])["RootFS"]["Layers"] for run in (first, later)]
    assert layers[0] == layers[1] and first.outputs["image-id"] != later.outputs["image-id"]
    for run in (first, later):
        docker_client.images.remove(run.outputs["image-id"], force=True)


def test_a_python_3_13_base_gets_wheels_for_3_13_and_serves(tmp_path, docker_client, docker_cleanup):
    if not docker_client.images.list(name=TRIXIE_IMAGE):
        pytest.fail(f"{TRIXIE_IMAGE} is missing: run scripts/setup-machine.sh", pytrace=False)
    run = package(tmp_path / "trixie", "--push", "false", "--base-image", TRIXIE_IMAGE, "--tags", "trixie")
    assert run.code == 0, run.stderr
    image = run.outputs["image-id"]
    docker_cleanup.image("onnx-package/sentiment:trixie")
    assert "(Python 3.13, x86_64)" in run.stderr
    listing = docker_client.containers.run(
        image, entrypoint=["ls", "/opt/onnx-serve/deps/onnxruntime/capi"], remove=True
    ).decode()
    assert "cpython-313-x86_64-linux-gnu.so" in listing and "cpython-311" not in listing
    container, url = serve(docker_client, image)
    try:
        answer = httpx.post(f"{url}/predict", json=["Containers are good"], timeout=30)
        assert answer.json() == {"positive": True}
    finally:
        container.remove(force=True)


def test_a_base_without_python_is_refused_before_the_build(tmp_path, tiny_image, registry, docker_cleanup):
    base = tiny_image(f"{docker_cleanup.prefix}-nopython:1")
    path = f"{docker_cleanup.prefix}/never"
    run = package(tmp_path / "run", "--images", f"{registry.host}/{path}", "--base-image", base)
    assert run.code == 1 and run.outputs == {}
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: Image build failed")]
    assert len(errors) == 1 and "has no python3" in errors[0] and ". Fix: " in errors[0], run.stderr
    assert "==> Build image" not in run.stderr and "Traceback" not in run.stderr
    with registry.http() as client:
        assert client.get(f"/v2/{path}/tags/list").status_code == 404  # nothing was pushed
