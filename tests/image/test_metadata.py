"""OCI labels and annotations as docker/metadata-action writes them; class labels have their own input."""

import json

import pytest

from onnx_package.errors import SettingsError
from onnx_package.image.metadata import manifest_annotations, parse_annotations, parse_labels
from onnx_package.registry.distribution import OCI_MANIFEST, Manifest, RegistryError, annotated
from onnx_package.settings import load_settings

DOCKER_MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7, "digest": "sha256:c"},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 9, "digest": "sha256:l"}],
}


def test_labels_are_lines_so_values_keep_commas_and_spaces():
    settings = load_settings(
        {
            "labels": "org.opencontainers.image.description=Short texts, English\n\n"
            "org.opencontainers.image.url=https://example.com/a=b\n"
        },
        {},
    )
    assert parse_labels(settings.labels) == {
        "org.opencontainers.image.description": "Short texts, English",
        "org.opencontainers.image.url": "https://example.com/a=b",
    }


def test_class_labels_given_as_labels_get_the_new_name_in_the_error():
    with pytest.raises(SettingsError, match=r"labels line 1 .* is not key=value \(class labels .*class-labels\)"):
        parse_labels(["negative,positive"])


@pytest.mark.parametrize("key", ["io.github.onnx-package.model.sha256", "io.github.onnx-package.model.version"])
def test_the_model_keys_cannot_be_overridden(key):
    with pytest.raises(SettingsError, match="records the packaged model"):
        parse_labels([f"{key}=forged"])
    with pytest.raises(SettingsError, match="records the packaged model"):
        parse_annotations([f"manifest:{key}=forged"])


def test_annotation_levels_as_buildx_names_them():
    given = parse_annotations(
        [
            "org.opencontainers.image.title=plain",
            "manifest:org.example.a=1",
            "manifest[linux/amd64]:org.example.b=x=y",
            "index:org.example.c=3",
            "manifest-descriptor:org.example.d=4",
        ]
    )
    assert given.manifest == {"org.opencontainers.image.title": "plain", "org.example.a": "1", "org.example.b": "x=y"}
    assert given.skipped == ("index:org.example.c", "manifest-descriptor:org.example.d")
    for bad in ("no equals sign", "layer:org.example.a=1", "=value"):
        with pytest.raises(SettingsError, match="is not \\[level:\\]key=value"):
            parse_annotations([bad])


def test_annotations_are_the_images_oci_labels_under_the_users_and_none_when_none_asked():
    labels = {"org.opencontainers.image.version": "3", "io.github.onnx-package.model.sha256": "abc"}
    assert manifest_annotations(labels, parse_annotations([])) == {}
    assert manifest_annotations(labels, parse_annotations(["org.opencontainers.image.version=4", "a.b=c"])) == {
        "org.opencontainers.image.version": "4",
        "a.b": "c",
    }


def test_a_docker_manifest_is_rewritten_in_oci_form_with_the_same_blobs():
    body = annotated(Manifest("sha256:x", json.dumps(DOCKER_MANIFEST).encode()), {"a.b": "c"})
    rewritten = json.loads(body)
    assert rewritten["mediaType"] == OCI_MANIFEST and rewritten["annotations"] == {"a.b": "c"}
    assert rewritten["config"] == {**DOCKER_MANIFEST["config"], "mediaType": "application/vnd.oci.image.config.v1+json"}
    assert rewritten["layers"] == [
        {**DOCKER_MANIFEST["layers"][0], "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"}
    ]
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}
    with pytest.raises(RegistryError, match="only an image manifest"):
        annotated(Manifest("sha256:y", json.dumps(index).encode()), {"a.b": "c"})
