"""linux/amd64 and linux/arm64 from one run: an OCI index in every registry over one image per platform, the
arm64 image run under QEMU and answering as the runner does (or, with emulation switched off, inspected), and a
platform the base lacks refused before the build. The arm64 base is made here without running any arm64 binary
(tests/support/multiarch.py)."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import time
from pathlib import Path

import httpx
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from cli_runs import TEST_LABEL, package_local
from models import make_tabular_classifier, make_text_classifier, tabular_rows
from multiarch import (
    OCI_INDEX,
    OCI_MANIFEST,
    PACKAGES,
    arm64_rootfs,
    emulation_registered,
    publish_amd64_only,
    publish_base,
    set_emulation,
)

pytestmark = pytest.mark.engine

PLATFORMS = "linux/amd64,linux/arm64"
AARCH64 = 183


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory) -> Path:
    if not shutil.which("mmdebstrap"):
        pytest.fail("mmdebstrap is missing: run scripts/setup-machine.sh", pytrace=False)
    return arm64_rootfs(tmp_path_factory.mktemp("arm64"))


@pytest.fixture(scope="module")
def two_platform_base(registry_factory, docker_client, base_image, rootfs) -> str:
    return publish_base(docker_client, registry_factory(), "base/bookworm", base_image, rootfs)


@pytest.fixture
def emulation():
    """aarch64 emulation registered and on (setup-machine.sh's QEMU 10: Debian 12's 7.2 crashes onnxruntime)."""
    if not emulation_registered():
        pytest.fail("QEMU aarch64 emulation is not registered: run scripts/setup-machine.sh (as root)", pytrace=False)


@pytest.fixture
def no_emulation():
    """aarch64 emulation switched off for the test (restored after), as on a runner without it: the arm64 image
    must then be inspected."""
    was_on = emulation_registered()
    if was_on:
        set_emulation(False)
    try:
        yield
    finally:
        if was_on:
            set_emulation(True)


def index_of(registry, repo: str, tag: str) -> tuple[str, dict]:
    with registry.http() as http:
        answer = http.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_INDEX}).raise_for_status()
    return answer.headers["Docker-Content-Digest"], answer.json()


def added_layers_elf(registry, repo: str, manifest_digest: str) -> list[tuple[str, int]]:
    """(name, e_machine) of every ELF file in the image's three added layers, read from the registry's blobs."""
    found = []
    with registry.http() as http:
        manifest = (
            http.get(
                f"/v2/{repo}/manifests/{manifest_digest}",
                headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
            )
            .raise_for_status()
            .json()
        )
        for layer in manifest["layers"][-3:]:
            blob = http.get(f"/v2/{repo}/blobs/{layer['digest']}", follow_redirects=True).raise_for_status().content
            with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
                for member in tar:
                    content = tar.extractfile(member) if member.isfile() else None
                    head = content.read(20) if content else b""
                    if head[:4] == b"\x7fELF":  # every ELF file of this test is little-endian
                        found.append((member.name, int.from_bytes(head[18:20], "little")))
    return found


def ask(docker_client, docker_cleanup, ref: str, path: str, body) -> object:
    """Pull `ref`, run it on a loopback port, POST body; the answer. Bounded: emulation is slow to start."""
    docker_client.images.pull(ref)
    docker_cleanup.image(ref)
    container = docker_client.containers.run(
        ref, detach=True, read_only=True, labels={TEST_LABEL: "1"}, ports={"8080/tcp": ("127.0.0.1", None)}
    )
    docker_cleanup.container(container.id)
    for _ in range(600):
        container.reload()
        assert container.status != "exited", container.logs().decode()
        ports = container.attrs["NetworkSettings"]["Ports"].get("8080/tcp")
        if ports:
            url = f"http://127.0.0.1:{ports[0]['HostPort']}"
            try:
                if httpx.get(url + "/v2/health/ready", timeout=2).status_code == 200:
                    return httpx.post(url + path, json=body, timeout=120).raise_for_status().json()
            except httpx.TransportError:
                pass
        time.sleep(0.5)
    raise AssertionError(f"{ref} was never ready: {container.logs().decode()[-500:]}")


@pytest.mark.parametrize("kind", ["text", "tabular"])
def test_two_platforms_give_an_index_in_every_registry_and_each_image_answers(
    kind, tmp_path, registry, auth_registry, two_platform_base, docker_client, docker_cleanup, emulation
):
    repo = f"{docker_cleanup.prefix}/{kind}"
    if kind == "text":
        model, path, body = make_text_classifier(tmp_path / "text"), "/predict", ["Containers are good"]
    else:
        rows = tabular_rows("wine", 178)[::30]  # the data set is ordered by class: these rows span all three
        model, path, body = make_tabular_classifier(tmp_path / "wine"), "/predict", {"data": rows}
    config = auth_registry.write_docker_config(tmp_path / "docker-config")
    run = package_local(
        tmp_path,
        model,
        tags="v1",
        images=f"{registry.host}/{repo}\n{auth_registry.host}/{repo}",
        platforms=PLATFORMS,
        base_image=two_platform_base,
        sample=json.dumps(body),
        env={"DOCKER_CONFIG": str(config)},
    )
    assert run.code == 0, run.stderr
    assert "linux/amd64: run, answered as the runner did" in run.stderr
    assert "linux/arm64: run under QEMU emulation, answered as the runner did" in run.stderr
    assert "inspected, not run" not in run.stderr
    platform_digests = json.loads(run.outputs["platform-digests"])
    assert sorted(platform_digests) == ["linux/amd64", "linux/arm64"]

    for served in (registry, auth_registry):
        digest, index = index_of(served, repo, "v1")
        assert digest == run.outputs["digest"]
        assert index["mediaType"] == OCI_INDEX
        platforms = {f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"] for m in index["manifests"]}
        assert platforms == platform_digests  # exactly the two platforms; the ML-BOM added no entry
        with served.http() as http:
            tags = http.get(f"/v2/{repo}/tags/list").raise_for_status().json()["tags"]
            assert sorted(tags) == sorted(["v1", f"{digest.replace(':', '-')}.sbom"])  # no per-platform tag
            bom = (
                http.get(
                    f"/v2/{repo}/manifests/{digest.replace(':', '-')}.sbom",
                    headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
                )
                .raise_for_status()
                .json()
            )
            assert bom["subject"] == {"mediaType": OCI_INDEX, "digest": digest, "size": bom["subject"]["size"]}
    bom_text = Path(run.outputs["sbom"]).read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(bom_text) is None
    bom_document = json.loads(bom_text)
    assert bom_document["metadata"]["component"]["version"] == run.outputs["digest"]
    onnxruntime = next(c for c in bom_document["components"] if c["name"] == "onnxruntime")
    wheels = {p["name"]: p["value"] for p in onnxruntime["properties"]}  # a compiled package: one wheel per platform
    assert sorted(wheels) == ["onnx-package:wheel-sha256:linux/amd64", "onnx-package:wheel-sha256:linux/arm64"]
    assert len(set(wheels.values())) == 2
    assert json.loads(run.outputs["digests"]) == {
        f"{r.host}/{repo}:v1": run.outputs["digest"] for r in (registry, auth_registry)
    }

    elves = added_layers_elf(registry, repo, platform_digests["linux/arm64"])
    assert elves and all(machine == AARCH64 for _, machine in elves), [e for e in elves if e[1] != AARCH64][:5]

    amd64 = ask(docker_client, docker_cleanup, f"{registry.host}/{repo}@{platform_digests['linux/amd64']}", path, body)
    if kind == "text":
        assert amd64 == {"positive": True}
    else:
        assert isinstance(amd64, list) and len(amd64) == len(rows) and set(amd64) == {0, 1, 2}
    arm64 = ask(docker_client, docker_cleanup, f"{registry.host}/{repo}@{platform_digests['linux/arm64']}", path, body)
    assert arm64 == amd64  # the pushed arm64 image, run under QEMU, answers as the one the runner runs natively
    for arch in ("amd64", "arm64"):  # what the run loaded into the engine (for the check only)
        docker_cleanup.image(f"onnx-package/{run.outputs['model-name']}:{run.outputs['model-version']}-{arch}")


def test_a_platform_the_base_lacks_is_refused_before_the_build(
    tmp_path, registry_factory, registry, base_image, docker_client, docker_cleanup
):
    repo = f"{docker_cleanup.prefix}/refused"
    only_amd64 = publish_amd64_only(docker_client, registry_factory(), "base/amd64-only", base_image)
    model = make_text_classifier(tmp_path / "text")
    run = package_local(
        tmp_path, model, tags="v1", images=f"{registry.host}/{repo}", platforms=PLATFORMS, base_image=only_amd64
    )
    assert run.code != 0
    assert "has no linux/arm64 image (it has linux/amd64)" in run.stderr
    assert "remove linux/arm64 from platforms" in run.stderr
    assert "Traceback" not in run.stderr and "Build image" not in run.stderr
    with registry.http() as http:
        assert http.get(f"/v2/{repo}/tags/list").status_code == 404  # nothing pushed


def test_one_foreign_platform_gives_a_plain_manifest_and_no_index(
    tmp_path, registry, two_platform_base, docker_cleanup, no_emulation
):
    repo = f"{docker_cleanup.prefix}/arm64"
    model = make_text_classifier(tmp_path / "text")
    run = package_local(
        tmp_path,
        model,
        tags="v1",
        images=f"{registry.host}/{repo}",
        platforms="linux/arm64",
        base_image=two_platform_base,
    )
    assert run.code == 0, run.stderr
    line = next(line for line in run.stderr.splitlines() if "linux/arm64: inspected, not run" in line)
    assert "ELF files and the base's python3 are aarch64" in line
    assert "run under QEMU" not in run.stderr
    with registry.http() as http:
        answer = http.get(f"/v2/{repo}/manifests/v1", headers={"Accept": f"{OCI_INDEX}, {OCI_MANIFEST}"})
        manifest = answer.raise_for_status().json()
        assert manifest["mediaType"] == OCI_MANIFEST  # no index for one platform
        config = http.get(f"/v2/{repo}/blobs/{manifest['config']['digest']}").raise_for_status().json()
    assert (config["os"], config["architecture"]) == ("linux", "arm64")
    assert answer.headers["Docker-Content-Digest"] == run.outputs["digest"]
    assert json.loads(run.outputs["platform-digests"]) == {"linux/arm64": run.outputs["digest"]}
    docker_cleanup.image(f"onnx-package/text:{run.outputs['model-version']}-arm64")


def test_a_base_that_lacks_a_library_the_wheels_need_is_refused_by_the_static_check_before_the_push(
    tmp_path, registry_factory, registry, base_image, docker_client, docker_cleanup, no_emulation
):
    no_libstdcxx = arm64_rootfs(tmp_path, PACKAGES.replace(",libstdc++6", ""))
    base = publish_base(docker_client, registry_factory(), "base/no-libstdcxx", base_image, no_libstdcxx)
    repo = f"{docker_cleanup.prefix}/no-libstdcxx"
    run = package_local(
        tmp_path,
        make_text_classifier(tmp_path / "text"),
        tags="v1",
        images=f"{registry.host}/{repo}",
        platforms="linux/arm64",
        base_image=base,
    )
    assert run.code != 0
    last = run.stderr.strip().splitlines()[-1]
    assert "the base image linux/arm64 lacks libstdc++.so.6, which " in last
    assert "use a base with it, e.g. python:3.11-slim" in last
    assert "Traceback" not in run.stderr and "==> Push" not in run.stderr
    with registry.http() as http:
        assert http.get(f"/v2/{repo}/tags/list").status_code == 404  # nothing pushed
