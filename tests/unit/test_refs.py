import pytest

from onnx_package.errors import SettingsError
from onnx_package.registry.refs import check_tag, parse_repository


@pytest.mark.parametrize(("text", "registry", "path"), [
    ("127.0.0.1:5001/demo/wine", "127.0.0.1:5001", "demo/wine"),
    ("ghcr.io/my-org/roberta", "ghcr.io", "my-org/roberta"),
    ("myacr.azurecr.io/models/nested/roberta", "myacr.azurecr.io", "models/nested/roberta"),
    ("me/roberta", "docker.io", "me/roberta"),
    ("docker.io/me/roberta", "docker.io", "me/roberta"),
    ("roberta", "docker.io", "library/roberta"),
    ("localhost:5000/x", "localhost:5000", "x"),
])
def test_repositories_on_any_registry(text, registry, path):
    repo = parse_repository(text)
    assert (repo.registry, repo.path) == (registry, path)
    assert repo.ref("v1") == f"{registry}/{path}:v1"


@pytest.mark.parametrize(("text", "needle"), [
    ("ghcr.io/Org/Model", "not a valid image repository"),
    ("ghcr.io/org/model:v1", "list the repository only (ghcr.io/org/model)"),
    ("127.0.0.1:5001/demo/wine:v1", "list the repository only (127.0.0.1:5001/demo/wine)"),
    ("ghcr.io/org/model@sha256:abc", "carries a tag or digest"),
    ("ghcr.io//model", "not a valid image repository"),
])
def test_bad_repositories_say_why(text, needle):
    with pytest.raises(SettingsError) as caught:
        parse_repository(text)
    assert needle in str(caught.value)


@pytest.mark.parametrize("tag", ["v1", "1.2.3", "sha-abc", "latest", "A_b-c.d"])
def test_good_tags(tag):
    assert check_tag(tag) == tag


@pytest.mark.parametrize("tag", ["-v1", ".v1", "v 1", "a" * 129, "v1/x", ""])
def test_bad_tags(tag):
    with pytest.raises(SettingsError, match="not a valid image tag"):
        check_tag(tag)
