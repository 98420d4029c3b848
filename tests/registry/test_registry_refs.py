"""References and tags, checked before anything is built; the default tags."""

import pytest

from onnx_package.errors import SettingsError
from onnx_package.pipeline import default_tags, plan_targets
from onnx_package.refs import parse_repositories, parse_repository, tag_from
from onnx_package.settings import Settings


def test_each_repository_once():
    with pytest.raises(SettingsError, match=r"names ghcr\.io/org/model twice"):
        parse_repositories(["ghcr.io/org/model", "GHCR.io/org/model"])
    assert [r.name for r in parse_repositories(["ghcr.io/org/model", "me/model"])] == [
        "ghcr.io/org/model", "docker.io/me/model"]


@pytest.mark.parametrize(("text", "needle"), [
    ("127.0.0.1:0/demo/wine", "port 0"), ("127.0.0.1:70000/demo/wine", "port 70000"),
    ("ghcr.io/" + "a" * 250, "longer than 255"),
])
def test_impossible_repositories(text, needle):
    with pytest.raises(SettingsError, match=needle):
        parse_repository(text)


def test_nested_paths_ports_and_ipv6_hosts():
    assert parse_repository("[::1]:5000/a/b/c").registry == "[::1]:5000"
    assert parse_repository("my.registry.example:443/team/sub/model").path == "team/sub/model"


@pytest.mark.parametrize(("version", "tag"), [
    ("3", "3"), ("2024-05-01+rc.1", "2024-05-01-rc.1"), ("v1 beta", "v1-beta"), (".hidden", "hidden"),
    ("", "latest"), ("x" * 200, "x" * 128),
])
def test_tags_made_from_model_versions(version, tag):
    assert tag_from(version) == tag


def test_default_tags_are_the_model_version_and_the_short_git_sha():
    assert default_tags(Settings(revision="0123456789abcdef"), "7") == ["7", "0123456"]
    assert default_tags(Settings(), "7") == ["7"]
    assert default_tags(Settings(tags=("v1", "stable", "v1")), "7") == ["v1", "stable"]


def test_plan_checks_references_tags_and_the_ca_before_anything_runs(tmp_path):
    with pytest.raises(SettingsError, match="not a valid image tag"):
        plan_targets(Settings(images=("ghcr.io/org/model",), tags=("bad tag",)))
    with pytest.raises(SettingsError, match="registry-ca"):
        plan_targets(Settings(images=("ghcr.io/org/model",), registry_ca=str(tmp_path / "nope.pem")))
    assert plan_targets(Settings(images=("ghcr.io/org/model",)))[0].path == "org/model"
