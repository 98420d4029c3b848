"""The ML-BOM, end to end: a CycloneDX 1.6 document that validates against the schema, names the model by its
sha256 and every locked package baked in, and can be found from the image's digest in every registry."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from cli_runs import package_local
from locks import SERVE_LOCK, entries, linux
from models import make_text_classifier

pytestmark = pytest.mark.engine

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def locked_for_the_image(python: str = "3.11", machine: str = "x86_64") -> dict[str, set[str]]:
    """name -> the sha256s the image lock allows, for the packages the base's Python and CPU install."""
    environment = linux(python, machine)
    return {
        re.sub(r"[-_.]+", "-", req.name).lower(): {h.removeprefix("sha256:") for h in hashes}
        for req, hashes in entries(SERVE_LOCK)
        if not req.marker or req.marker.evaluate(environment)
    }


def test_the_ml_bom_validates_names_everything_and_is_found_from_the_digest(
    tmp_path, registry, auth_registry, base_image, docker_cleanup
):
    repo = f"{docker_cleanup.prefix}/bom"
    config = auth_registry.write_docker_config(tmp_path / "docker-config")
    model = make_text_classifier(tmp_path / "text")
    run = package_local(
        tmp_path,
        model,
        tags="v1",
        images=f"{registry.host}/{repo}\n{auth_registry.host}/{repo}",
        base_image=base_image,
        env={"DOCKER_CONFIG": str(config)},
    )
    assert run.code == 0, run.stderr
    sbom = Path(run.outputs["sbom"])
    text = sbom.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document = json.loads(text)
    digest = run.outputs["digest"]
    assert document["metadata"]["component"]["version"] == digest

    ml_model = next(c for c in document["components"] if c["type"] == "machine-learning-model")
    assert (ml_model["name"], ml_model["version"]) == (run.outputs["model-name"], run.outputs["model-version"])
    assert ml_model["hashes"] == [{"alg": "SHA-256", "content": run.outputs["model-sha256"]}]
    assert ml_model["externalReferences"][0]["url"].endswith("text")  # the model folder it came from
    assert ml_model["modelCard"]["modelParameters"]["task"] == "text-classification"
    assert any(
        i["format"].startswith("input_ids: tensor(int64)") for i in ml_model["modelCard"]["modelParameters"]["inputs"]
    )
    base = next(c for c in document["components"] if c["bom-ref"] == "base-image")
    assert base["name"].endswith("onnx-package-test/base")

    packages = {c["name"].lower().replace("_", "-"): c for c in document["components"] if c["type"] == "library"}
    locked = locked_for_the_image()
    assert packages.keys() == locked.keys()
    for name, component in packages.items():  # the wheel installed is one the lock pinned
        assert component["hashes"][0]["content"] in locked[name], name

    for served in (registry, auth_registry):
        with served.http() as client:
            found = client.get(
                f"/v2/{repo}/manifests/{digest.replace(':', '-')}.sbom", headers={"Accept": OCI_MANIFEST}
            )
            found.raise_for_status()
            artifact = found.json()
            assert artifact["artifactType"] == "application/vnd.cyclonedx+json"
            assert artifact["subject"]["digest"] == digest
            layer = artifact["layers"][0]
            blob = client.get(f"/v2/{repo}/blobs/{layer['digest']}").raise_for_status().content
            assert blob == sbom.read_bytes() and layer["digest"] == "sha256:" + hashlib.sha256(blob).hexdigest()
            tags = client.get(f"/v2/{repo}/tags/list").raise_for_status().json()["tags"]
            assert sorted(tags) == sorted(["v1", f"{digest.replace(':', '-')}.sbom"])
