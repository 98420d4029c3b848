"""The docker actions' conventions, end to end: docker/metadata-action's tags (full references), labels and
annotations outputs passed as they are; the pushed manifests carry the annotations and still run."""

from __future__ import annotations

import json

import httpx
import pytest

from cli_runs import run_cli, serve
from models import make_text_classifier

pytestmark = pytest.mark.engine

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# As docker/metadata-action@v5 writes its outputs (annotations with the default `manifest:` level).
LABELS = (
    "org.opencontainers.image.description=Sentiment of short texts, in English\norg.opencontainers.image.licenses=MIT\n"
)
ANNOTATIONS = (
    "manifest:org.opencontainers.image.description=Sentiment, annotated\n"
    "manifest:org.opencontainers.image.vendor=Example Org\n"
    "index:org.opencontainers.image.title=for an index this image has not\n"
)


def manifest_of(registry, repo: str, tag: str) -> dict:
    with registry.http() as client:
        answer = client.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
    answer.raise_for_status()
    return {"digest": answer.headers["Docker-Content-Digest"], "type": answer.headers["Content-Type"], **answer.json()}


def test_metadata_action_outputs_are_taken_as_they_are(
    tmp_path, registry, auth_registry, base_image, docker_client, docker_cleanup
):
    repo = f"{docker_cleanup.prefix}/meta"
    config = auth_registry.write_docker_config(tmp_path / "docker-config")
    refs = [f"{registry.host}/{repo}:1.2.0", f"{registry.host}/{repo}:latest", f"{auth_registry.host}/{repo}:1.2.0"]
    args = [
        "--model-source",
        "local",
        "--model-path",
        str(make_text_classifier(tmp_path / "text")),
        "--tags",
        "\n".join(refs),
        "--labels",
        LABELS,
        "--annotations",
        ANNOTATIONS,
        "--base-image",
        base_image,
        "--class-labels",
        "negative,positive",
        "--expected",
        '{"positive": true}',
    ]
    env = {"DOCKER_CONFIG": str(config), "SOURCE_DATE_EPOCH": "1700000000"}  # the rerun builds the same image
    run = run_cli(tmp_path, *args, env=env)
    assert run.code == 0, run.stderr
    assert "annotation index:org.opencontainers.image.title skipped" in run.stderr
    digest = run.outputs["digest"]
    assert json.loads(run.outputs["digests"]) == dict.fromkeys(refs, digest)  # no images input: the refs say where

    labels = docker_client.images.get(run.outputs["image-id"]).labels
    assert labels["org.opencontainers.image.description"] == "Sentiment of short texts, in English"
    assert labels["org.opencontainers.image.licenses"] == "MIT"
    assert labels["io.github.onnx-package.model.sha256"] == run.outputs["model-sha256"]
    for served, tag in ((registry, "1.2.0"), (registry, "latest"), (auth_registry, "1.2.0")):
        manifest = manifest_of(served, repo, tag)
        assert (manifest["digest"], manifest["type"], manifest["mediaType"]) == (digest, OCI_MANIFEST, OCI_MANIFEST)
        assert manifest["config"]["digest"] == run.outputs["image-id"]
        annotations = manifest["annotations"]
        assert annotations["org.opencontainers.image.description"] == "Sentiment, annotated"  # over the label
        assert annotations["org.opencontainers.image.vendor"] == "Example Org"
        assert annotations["org.opencontainers.image.licenses"] == "MIT"  # the image's OCI labels, under them
        assert annotations["org.opencontainers.image.version"] == run.outputs["model-version"]
        assert "org.opencontainers.image.title" in annotations and not any(
            key.startswith("io.github.onnx-package") for key in annotations
        )

    # The rewritten manifest is an image the engine pulls and runs.
    docker_client.images.remove(run.outputs["image-id"], force=True)
    ref = f"{auth_registry.host}/{repo}@{digest}"
    docker_client.images.pull(ref, auth_config=auth_registry.auth_config)
    docker_cleanup.image(ref)
    container, url = serve(docker_client, ref)
    try:
        assert httpx.post(url + "/predict", json=["Containers are good"], timeout=30).json() == {"positive": True}
    finally:
        container.remove(force=True)

    again = run_cli(tmp_path, *args, env=env)  # the same image and annotations are already there: nothing sent
    assert again.code == 0, again.stderr
    assert (again.outputs["image-id"], again.outputs["digest"]) == (run.outputs["image-id"], digest)
    assert again.stderr.count("already there: nothing sent") == 3
