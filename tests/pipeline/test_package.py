"""End to end: the CLI packages real models, pushes to real registries, and the pulled images answer."""

from __future__ import annotations

import json

import httpx
import pytest

from cli_runs import base_with_python3, package_local, serve
from models import corrupt_model, make_tabular_classifier, make_text_classifier, tabular_rows

pytestmark = pytest.mark.engine


@pytest.fixture
def targets(registry, auth_registry, docker_cleanup, tmp_path):
    """Two registries (one with basic auth, logged in through a docker config) and a unique repo name."""
    config = auth_registry.write_docker_config(tmp_path / "docker-config")
    return {
        "registries": (registry, auth_registry),
        "env": {"DOCKER_CONFIG": str(config)},
        "repo": f"{docker_cleanup.prefix}/model",
    }


def images_arg(targets) -> str:
    return "\n".join(f"{r.host}/{targets['repo']}" for r in targets["registries"])


def pull_and_ask(docker_client, docker_cleanup, registry, repo, digest, path, body):
    ref = f"{registry.host}/{repo}@{digest}"
    docker_client.images.pull(ref, auth_config=registry.auth_config)
    docker_cleanup.image(ref)
    container, url = serve(docker_client, ref)
    try:
        return httpx.post(url + path, json=body, timeout=30).json()
    finally:
        container.remove(force=True)


def assert_pushed_everywhere(run, targets, tags):
    assert run.code == 0, run.stderr
    digest = run.outputs["digest"]
    assert digest.startswith("sha256:")
    refs = {f"{r.host}/{targets['repo']}:{tag}" for r in targets["registries"] for tag in tags}
    assert json.loads(run.outputs["digests"]) == dict.fromkeys(refs, digest)
    assert run.outputs["images"].splitlines() == [f"{r.host}/{targets['repo']}@{digest}" for r in targets["registries"]]
    for registry in targets["registries"]:
        for tag in tags:
            assert registry.manifest_digest(targets["repo"], tag) == digest
    return digest


def remove_local(docker_client, run):
    docker_client.images.remove(run.outputs["image-id"], force=True)


def test_text_model_is_pushed_to_two_registries_and_answers_the_tutorial(
    tmp_path, targets, base_image, docker_client, docker_cleanup
):
    model = make_text_classifier(tmp_path / "text")
    run = package_local(
        tmp_path,
        model,
        images=images_arg(targets),
        tags="v1",
        base_image=base_image,
        expected='{"positive": true}',
        env=targets["env"],
    )
    digest = assert_pushed_everywhere(run, targets, ["v1"])
    assert run.outputs["model-sha256"] and run.outputs["model-name"] == "text"
    labels = docker_client.images.get(run.outputs["image-id"]).labels
    assert labels["io.github.onnx-package.model.sha256"] == run.outputs["model-sha256"]
    assert labels["org.opencontainers.image.version"] == run.outputs["model-version"]
    assert docker_client.images.get(run.outputs["image-id"]).attrs["Config"]["User"] == "10001:10001"
    remove_local(docker_client, run)
    for registry in targets["registries"]:
        good = pull_and_ask(
            docker_client, docker_cleanup, registry, targets["repo"], digest, "/predict", ["Containers are good"]
        )
        assert good == {"positive": True}
    bad = pull_and_ask(
        docker_client,
        docker_cleanup,
        targets["registries"][1],
        targets["repo"],
        digest,
        "/predict",
        ["Containers are terrible"],
    )
    assert bad == {"positive": False}


def test_tabular_model_answers_the_azure_ml_scoring_shape(tmp_path, targets, base_image, docker_client, docker_cleanup):
    import numpy as np
    import onnxruntime as ort

    model = make_tabular_classifier(tmp_path / "wine")
    rows = tabular_rows("wine", 3)
    sample = json.dumps({"data": rows})
    run = package_local(
        tmp_path,
        model / "model.onnx",
        images=images_arg(targets),
        tags="v1,stable",
        base_image=base_image,
        sample=sample,
        env=targets["env"],
    )
    digest = assert_pushed_everywhere(run, targets, ["v1", "stable"])
    session = ort.InferenceSession(str(model / "model.onnx"))
    want = session.run(None, {"float_input": np.array(rows, dtype=np.float32)})[0].tolist()
    remove_local(docker_client, run)
    answer = pull_and_ask(
        docker_client, docker_cleanup, targets["registries"][0], targets["repo"], digest, "/predict", {"data": rows}
    )
    assert [item["label"] if isinstance(item, dict) else item for item in answer] == want


def test_a_corrupt_model_stops_with_one_line_and_pushes_nothing(tmp_path, targets, base_image):
    model = corrupt_model(tmp_path / "corrupt")
    run = package_local(
        tmp_path, model, images=images_arg(targets), tags="v1", base_image=base_image, env=targets["env"]
    )
    assert run.code == 1
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "model.onnx" in errors[0] and "Fix:" in errors[0], run.stderr
    assert "Traceback" not in run.stderr
    assert run.outputs == {}
    for registry in targets["registries"]:
        assert registry.manifest_digest(targets["repo"], "v1") is None


@pytest.fixture
def broken_python_base(docker_client, base_image, docker_cleanup, tmp_path):
    """The base image with a python3 that answers the base probe (`python3 -c`) but cannot run a server."""
    script = (
        '#!/bin/sh\n[ "$1" = -c ] && exec /usr/bin/python3 "$@"\necho "python3: this base cannot serve" >&2\nexit 1\n'
    )
    tag = f"{docker_cleanup.prefix}-broken-python:1"
    return docker_cleanup.image(base_with_python3(docker_client, base_image, tmp_path / "broken-base", tag, script))


def test_an_image_that_cannot_serve_is_never_pushed(tmp_path, targets, broken_python_base):
    """A base whose Python cannot serve passes the base probe and builds, but the container check stops the push."""
    base = broken_python_base
    model = make_tabular_classifier(tmp_path / "wine")
    run = package_local(
        tmp_path, model, images=images_arg(targets), tags="v1", base_image=base, check_timeout="30", env=targets["env"]
    )
    assert run.code == 1, run.stderr
    assert "Container check failed" in run.stderr and "python3" in run.stderr
    for registry in targets["registries"]:
        assert registry.manifest_digest(targets["repo"], "v1") is None
