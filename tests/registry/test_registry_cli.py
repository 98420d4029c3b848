"""The CLI end to end: three registries (plain behind a fault proxy, basic auth from registry-auth, TLS with
registry-ca) through injected faults; then a dead registry among them. Two full runs, the second mostly cached."""

from __future__ import annotations

import json

import pytest
from acr_standin import free_port

from cli_runs import run_cli
from models import make_tabular_classifier

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tabular_classifier(tmp_path_factory.mktemp("models") / "wine")


def registry_auth(registry) -> str:
    return f"- registry: {registry.host}\n  username: {registry.username}\n  password: {registry.password}\n"


def served_digests(backends, path, tag):
    return {backend.manifest_digest(path, tag) for backend in backends}


def test_three_registries_through_faults_then_a_dead_one(
    model, tmp_path, base_image, registry, auth_registry, tls_registry, fault_proxy, docker_cleanup
):
    proxy = fault_proxy(registry.url)
    # Faults where a retry costs little (the layers are not sent again); mid-upload faults: test_registry_push.py
    proxy.inject("reset", r"^GET /v2/$")  # the engine's first ping
    proxy.inject("429", r"^PUT /v2/.*/manifests/")  # the manifest, after the layers: toomanyrequests
    proxy.inject("500", r"^GET /v2/.*/manifests/")  # the digest check
    path = f"{docker_cleanup.prefix}/wine"
    hosts = [proxy.host, auth_registry.host, tls_registry.host]
    (tmp_path / "docker-config").mkdir()
    env = {"DOCKER_CONFIG": str(tmp_path / "docker-config"), "INPUT_REGISTRY_AUTH": registry_auth(auth_registry)}
    common = [
        "--model-source",
        "local",
        "--model-path",
        str(model),
        "--base-image",
        base_image,
        "--registry-ca",
        str(tls_registry.ca_file),
        "--tags",
        "1,stable",
    ]

    run = run_cli(tmp_path, *common, "--images", "\n".join(f"{host}/{path}" for host in hosts), env=env)

    assert run.code == 0, run.stderr
    backends = (registry, auth_registry, tls_registry)
    digest = run.outputs["digest"]
    assert served_digests(backends, path, "1") == served_digests(backends, path, "stable") == {digest}
    assert json.loads(run.outputs["digests"]) == {f"{h}/{path}:{t}": digest for h in hosts for t in ("1", "stable")}
    assert run.outputs["images"].splitlines() == [f"{host}/{path}@{digest}" for host in hosts]
    assert not proxy.pending and run.stderr.count("retrying in") >= 3, run.stderr
    assert "reference" in run.stderr and "registry-auth" in run.stderr
    assert auth_registry.password not in run.stderr
    docker_cleanup.image(f"{hosts[0]}/{path}:1")

    dead = f"127.0.0.1:{free_port()}"
    again = run_cli(tmp_path, *common, "--images", f"{dead}/{path}\n{registry.host}/{path}", env=env)

    assert again.code == 1, again.stderr
    assert f"no build cache from {dead}/{path}" in again.stderr
    failed = [line for line in again.stderr.splitlines() if line.strip().startswith(f"FAILED {dead}")]
    assert len(failed) == 1 and "connection refused" in failed[0] and "up and reachable" in failed[0]
    errors = [line for line in again.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"1 of 2 repositories failed ({dead}/{path})" in errors[0]
    assert f"{registry.host}/{path} holds the image" in errors[0]
    held = registry.manifest_digest(path, "1")
    assert held.startswith("sha256:")
    # The outputs name what the registry that got the image serves, and nothing of the dead one.
    assert json.loads(again.outputs["digests"]) == {f"{registry.host}/{path}:{t}": held for t in ("1", "stable")}
    assert again.outputs["images"] == f"{registry.host}/{path}@{held}" and again.outputs["digest"] == held
