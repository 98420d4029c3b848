"""Releases: the changelog names the package's version; the release script tags and moves as documented."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from action.act_helpers import ROOT
from onnx_package import __version__

RELEASE = ROOT / ".github" / "scripts" / "release.sh"


def changelog_versions() -> list[str]:
    return re.findall(r"^## \[(\d+\.\d+\.\d+)\]", (ROOT / "CHANGELOG.md").read_text(), flags=re.M)


def release(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(RELEASE), *args], capture_output=True, text=True, timeout=30)


def test_the_latest_changelog_version_is_the_package_version():
    assert changelog_versions()[0] == __version__


def test_the_release_check_accepts_the_current_version_only():
    assert release("check", f"v{__version__}").returncode == 0
    wrong = release("check", "v999.0.0")
    assert wrong.returncode == 1 and f"onnx_package.__version__ is {__version__}" in wrong.stderr
    assert release("check", "1.0").returncode == 1


def test_release_notes_are_the_versions_changelog_section():
    notes = release("notes", __version__).stdout
    assert notes.startswith("### Added") and "## [" not in notes


@pytest.fixture
def tagged_repo(tmp_path):
    """A copy of the release script in a repository with tags v1.0.0, v1.1.0, v1.1.1 and v2.0.0."""
    script = tmp_path / ".github" / "scripts" / "release.sh"
    script.parent.mkdir(parents=True)
    script.write_text(RELEASE.read_text())

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    git("init", "-q")
    git("commit", "-q", "--allow-empty", "-m", "one")
    for tag in ("v1.0.0", "v1.1.0", "v1.1.1", "v2.0.0", "v1"):
        git("tag", tag)
    return script


@pytest.mark.parametrize(("tag", "moving"), [("v1.1.1", ["v1", "v1.1"]), ("v1.0.0", ["v1.0"]),
                                              ("v2.0.0", ["v2", "v2.0"]), ("v1.1.0", [])])
def test_only_the_newest_release_of_a_line_moves_its_tags(tagged_repo, tag, moving):
    done = subprocess.run(["bash", str(tagged_repo), "moving-tags", tag], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == moving


def test_workflows_run_the_test_bed_and_release_semver_tags():
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    assert any(step.get("run") == "bash .ci/run" for step in ci["jobs"]["test"]["steps"])
    assert ci["jobs"]["test"]["timeout-minutes"] <= 90 and ci["jobs"]["test"]["name"] == "test"
    release_workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    assert release_workflow[True]["push"]["tags"] == ["v[0-9]+.[0-9]+.[0-9]+"]  # YAML reads `on` as True
    assert 'name == "test"' in (ROOT / ".github" / "workflows" / "release.yml").read_text()
    dependabot = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    assert {u["package-ecosystem"] for u in dependabot["updates"]} == {"github-actions", "pip"}
