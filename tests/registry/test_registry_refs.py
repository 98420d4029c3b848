"""References and tags, checked before anything is built; the default tags."""

import re

import pytest

from onnx_package.errors import SettingsError
from onnx_package.pipeline import default_tags, plan_targets
from onnx_package.registry.refs import check_tag, parse_repositories, parse_repository, plan_tags, tag_from
from onnx_package.settings import Settings


@pytest.mark.parametrize(
    ("text", "registry", "path"),
    [
        ("127.0.0.1:5001/demo/wine", "127.0.0.1:5001", "demo/wine"),
        ("ghcr.io/my-org/roberta", "ghcr.io", "my-org/roberta"),
        ("myacr.azurecr.io/models/nested/roberta", "myacr.azurecr.io", "models/nested/roberta"),
        ("me/roberta", "docker.io", "me/roberta"),
        ("docker.io/me/roberta", "docker.io", "me/roberta"),
        ("roberta", "docker.io", "library/roberta"),
        ("localhost:5000/x", "localhost:5000", "x"),
    ],
)
def test_repositories_on_any_registry(text, registry, path):
    repo = parse_repository(text)
    assert (repo.registry, repo.path) == (registry, path)
    assert repo.ref("v1") == f"{registry}/{path}:v1"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("ghcr.io/Org/Model", "not a valid image repository"),
        ("ghcr.io/org/model:v1", "list the repository only (ghcr.io/org/model)"),
        ("127.0.0.1:5001/demo/wine:v1", "list the repository only (127.0.0.1:5001/demo/wine)"),
        ("ghcr.io/org/model@sha256:abc", "carries a tag or digest"),
        ("ghcr.io//model", "not a valid image repository"),
    ],
)
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


def test_each_repository_once():
    with pytest.raises(SettingsError, match=r"names ghcr\.io/org/model twice"):
        parse_repositories(["ghcr.io/org/model", "GHCR.io/org/model"])
    assert [r.name for r in parse_repositories(["ghcr.io/org/model", "me/model"])] == [
        "ghcr.io/org/model",
        "docker.io/me/model",
    ]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("127.0.0.1:0/demo/wine", "port 0"),
        ("127.0.0.1:70000/demo/wine", "port 70000"),
        ("ghcr.io/" + "a" * 250, "longer than 255"),
    ],
)
def test_impossible_repositories(text, needle):
    with pytest.raises(SettingsError, match=needle):
        parse_repository(text)


def test_nested_paths_ports_and_ipv6_hosts():
    assert parse_repository("[::1]:5000/a/b/c").registry == "[::1]:5000"
    assert parse_repository("my.registry.example:443/team/sub/model").path == "team/sub/model"


@pytest.mark.parametrize(
    ("version", "tag"),
    [
        ("3", "3"),
        ("2024-05-01+rc.1", "2024-05-01-rc.1"),
        ("v1 beta", "v1-beta"),
        (".hidden", "hidden"),
        ("", "latest"),
        ("x" * 200, "x" * 128),
    ],
)
def test_tags_made_from_model_versions(version, tag):
    assert tag_from(version) == tag


def test_default_tags_are_the_model_version_and_the_short_git_sha():
    assert default_tags(Settings(revision="0123456789abcdef"), "7") == ["7", "0123456"]
    assert default_tags(Settings(), "7") == ["7"]


def targets(images, tags, default=("7",)):
    plan = plan_tags(images, tags)
    return {repo.name: tags for repo, tags in plan.targets(list(default)).items()}


def test_tag_names_go_to_every_repository_and_replace_the_default():
    assert targets(["ghcr.io/org/model", "me/model"], ["v1", "stable", "v1"]) == {
        "ghcr.io/org/model": ["v1", "stable"],
        "docker.io/me/model": ["v1", "stable"],
    }
    assert targets(["ghcr.io/org/model"], []) == {"ghcr.io/org/model": ["7"]}


def test_metadata_action_full_references_name_their_own_repositories():
    """docker/metadata-action's `tags` output: full references, one per line, images optional."""
    meta = ["ghcr.io/org/model:1.2.0", "ghcr.io/org/model:latest", "127.0.0.1:5000/demo/model:1.2.0"]
    assert targets([], meta) == {"ghcr.io/org/model": ["1.2.0", "latest"], "127.0.0.1:5000/demo/model": ["1.2.0"]}
    # Names still go to every images entry; references add theirs (the default is not added to either).
    assert targets(["me/model"], ["v1", "ghcr.io/org/model:edge", "me/model:extra"]) == {
        "docker.io/me/model": ["v1", "extra"],
        "ghcr.io/org/model": ["edge"],
    }


@pytest.mark.parametrize(
    ("images", "tags", "needle"),
    [
        ([], ["ghcr.io/org/model"], "repository without a tag"),
        ([], ["127.0.0.1:5000/demo/model"], "repository without a tag"),
        ([], ["ghcr.io/org/model@sha256:" + "0" * 64], "carries a digest"),
        ([], ["ghcr.io/org/model:bad:tag"], "has two tags"),
        ([], ["ghcr.io/org/model:bad*tag"], "not a valid image tag"),
        ([], ["ghcr.io/Org/model:v1"], "tags entry 'ghcr.io/Org/model' is not a valid image repository"),
        (["me/other"], ["ghcr.io/org/model:v1"], "images entry docker.io/me/other gets no tag"),
    ],
)
def test_references_in_tags_that_cannot_be_pushed(images, tags, needle):
    with pytest.raises(SettingsError, match=re.escape(needle)):
        plan_tags(images, tags)


def test_plan_checks_references_tags_and_the_ca_before_anything_runs(tmp_path):
    with pytest.raises(SettingsError, match="not a valid image tag"):
        plan_targets(Settings(images=("ghcr.io/org/model",), tags=("bad tag",)))
    with pytest.raises(SettingsError, match="registry-ca"):
        plan_targets(Settings(images=("ghcr.io/org/model",), registry_ca=str(tmp_path / "nope.pem")))
    assert plan_targets(Settings(images=("ghcr.io/org/model",))).repositories[0].path == "org/model"
    with pytest.raises(SettingsError, match="images is empty"):
        plan_targets(Settings(images=(), tags=("v1",)))
    assert plan_targets(Settings(tags=("ghcr.io/org/model:v1",))).repositories[0].name == "ghcr.io/org/model"
