"""Releases: the changelog names the package's version; the release script prepares, checks, tags and
moves as documented, and a consumer gets what the tag names, the way GitHub's runner fetches it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from act_helpers import ROOT
from onnx_package import __version__

RELEASE = ROOT / ".github" / "scripts" / "release.sh"


def changelog_versions() -> list[str]:
    """The released versions, newest first: a release's section is dated the day it was cut."""
    text = (ROOT / "CHANGELOG.md").read_text()
    return re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", text, flags=re.M)


def release(*args: str, root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    script = root / ".github" / "scripts" / "release.sh"
    environ = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, timeout=60, env=environ)


def test_the_package_version_is_the_newest_release_or_the_first_to_come():
    """One section per release, newest first, under [Unreleased]; until the first release, 0.1.0."""
    text = (ROOT / "CHANGELOG.md").read_text()
    sections = re.findall(r"^## \[(.+?)\]", text, flags=re.M)
    assert sections[0] == "Unreleased" and sections.count("Unreleased") == 1
    released = changelog_versions()
    assert sections[1:] == released, "every section but [Unreleased] is a dated release"
    assert (released[0] if released else "0.1.0") == __version__


def test_the_release_check_refuses_a_version_not_prepared_for_release():
    if f"v{__version__}" in changelog_versions():
        pytest.skip("main is at a released version")  # never true before the first release
    unprepared = release("check", f"v{__version__}")
    assert unprepared.returncode == 1 and f"no dated section ## [{__version__}]" in unprepared.stderr
    wrong = release("check", "v999.0.0")
    assert wrong.returncode == 1 and f"onnx_package.__version__ is {__version__}" in wrong.stderr
    assert release("check", "1.0").returncode == 1


def test_unreleased_notes_are_the_changelog_section():
    notes = release("notes", "Unreleased").stdout
    assert notes.startswith("### Added") and "## [" not in notes


@pytest.fixture
def tagged_repo(tmp_path):
    """A copy of the release script in a repository with tags v1.0.0, v1.1.0, v1.1.1 and v2.0.0."""
    script = tmp_path / ".github" / "scripts" / "release.sh"
    script.parent.mkdir(parents=True)
    script.write_text(RELEASE.read_text())

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True, capture_output=True
        )

    git("init", "-q")
    git("commit", "-q", "--allow-empty", "-m", "one")
    for tag in ("v1.0.0", "v1.1.0", "v1.1.1", "v2.0.0", "v1"):
        git("tag", tag)
    return script


@pytest.mark.parametrize(
    ("tag", "moving"), [("v1.1.1", ["v1", "v1.1"]), ("v1.0.0", ["v1.0"]), ("v2.0.0", ["v2", "v2.0"]), ("v1.1.0", [])]
)
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


# --- The release workflow, run for real against a scratch origin --------------------------------------------

WORKFLOW = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
STEPS = {step.get("name"): step for step in WORKFLOW["jobs"]["release"]["steps"]}
# Run as release.yml writes them. "The tagged commit is on main and passed CI" is left out: it asks
# GitHub's check-runs API. `gh` is a stand-in for GitHub (nothing else here can be): it records what it
# is asked, says no release exists yet, and `gh auth setup-git` has nothing to do for a local origin.
RUN = [
    "The tag matches the package version and the changelog",
    "The version was never released before",
    "Publish the release",
    "Move the major and minor tags",
]
GH = """#!/bin/sh
echo "$*" >> "$GH_LOG"
[ "$1 $2" = "release view" ] && exit 1
[ "$1 $2" = "release create" ] && cp "$(echo "$*" | sed 's/.*--notes-file //')" "$GH_LOG.notes"
exit 0
"""


class Scratch:
    """A copy of this repository's tracked files in a git repository whose origin is a bare repository."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.work, self.origin = tmp, tmp / "work", tmp / "origin.git"
        self.bin = tmp / "bin"
        self.bin.mkdir()
        (self.bin / "gh").write_text(GH)
        (self.bin / "gh").chmod(0o755)
        self.gh_log = tmp / "gh.log"
        self.summary = tmp / "summary.md"
        tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
        for name in filter(None, tracked.stdout.split("\0")):
            if (ROOT / name).is_file():
                (self.work / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, self.work / name)
        subprocess.run(["git", "init", "-q", "--bare", str(self.origin)], check=True)
        self.git("init", "-q", "-b", "main")
        self.git("remote", "add", "origin", str(self.origin))
        self.commit("main as it is")

    def git(self, *args: str, cwd: Path | None = None) -> str:
        done = subprocess.run(
            ["git", "-c", "user.name=Maintainer", "-c", "user.email=m@example.com", *args],
            cwd=cwd or self.work,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        self.git("push", "-q", "origin", "HEAD")
        return self.git("rev-parse", "HEAD")

    def cut(self, version: str, change: str) -> str:
        """What a maintainer does: write the change, prepare the release, merge it, push the tag."""
        changelog = self.work / "CHANGELOG.md"
        changelog.write_text(changelog.read_text().replace("## [Unreleased]\n", f"## [Unreleased]\n\n- {change}\n", 1))
        prepared = release("prepare", version, "2026-01-02", root=self.work)
        assert prepared.returncode == 0, prepared.stderr
        sha = self.commit(f"Release {version}")
        self.git("tag", "--annotate", f"v{version}", "--message", f"v{version}")
        self.git("push", "-q", "origin", f"v{version}")
        return sha

    def run_workflow(self, tag: str) -> None:
        sha = self.git("rev-parse", f"{tag}^{{commit}}")
        self.git("fetch", "-q", "--tags", "--force", "origin")  # what checkout's fetch-depth: 0 gives the job
        env = {
            **os.environ,
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "TAG": tag,
            "GITHUB_SHA": sha,
            "GH_TOKEN": "unused",
            "RUNNER_TEMP": str(self.tmp),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GH_LOG": str(self.gh_log),
            "PYTHON": sys.executable,
        }
        for name in RUN:
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", STEPS[name]["run"]],
                cwd=self.work,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, f"{name}: {done.stderr}"

    def fetch_as_a_consumer(self, ref: str) -> dict[str, str]:
        """The tree `uses: org/onnx-package-action@<ref>` gets: a tag or branch by name, a commit by SHA."""
        into = Path(tempfile.mkdtemp(dir=self.tmp))
        if re.fullmatch(r"[0-9a-f]{40}", ref):
            self.git("init", "-q", cwd=into)
            self.git("fetch", "-q", "--depth", "1", str(self.origin), ref, cwd=into)
            self.git("checkout", "-q", "FETCH_HEAD", cwd=into)
        else:
            self.git("clone", "-q", "--depth", "1", "--branch", ref, str(self.origin), str(into), cwd=self.tmp)
        action = (into / "action.yml").read_text().splitlines()[0]
        package = re.search(r'^__version__ = "(.*)"$', (into / "src/onnx_package/__init__.py").read_text(), re.M)
        assert package
        return {"action.yml": action.removeprefix("# onnx-package-action "), "__version__": package[1]}

    def tag_points_at(self, tag: str) -> str:
        return self.git("rev-parse", f"{tag}^{{commit}}", cwd=self.origin)


def says(version: str) -> dict[str, str]:
    return {"action.yml": version, "__version__": version}


@pytest.fixture
def scratch(tmp_path):
    return Scratch(tmp_path)


def test_a_release_is_what_its_tags_and_sha_give_a_consumer(scratch):
    v100 = scratch.cut("1.0.0", "First release.")
    scratch.run_workflow("v1.0.0")
    notes = (scratch.gh_log.parent / "gh.log.notes").read_text()
    assert notes.startswith("- First release.") and "### Added" in notes and "## [" not in notes
    assert f"release create v1.0.0 --verify-tag --title v1.0.0 --notes-file {scratch.tmp}/notes.md" in (
        scratch.gh_log.read_text()
    )
    assert scratch.summary.read_text().splitlines() == [f"v1 -> v1.0.0 ({v100})", f"v1.0 -> v1.0.0 ({v100})"]
    for ref in ("v1", "v1.0", "v1.0.0", v100):
        assert scratch.fetch_as_a_consumer(ref) == says("1.0.0"), ref

    v101 = scratch.cut("1.0.1", "A fix.")
    scratch.run_workflow("v1.0.1")
    for ref in ("v1", "v1.0", "v1.0.1", v101):
        assert scratch.fetch_as_a_consumer(ref) == says("1.0.1"), ref
    for ref in ("v1.0.0", v100):  # a release tag and a SHA never move
        assert scratch.fetch_as_a_consumer(ref) == says("1.0.0"), ref


def test_an_older_line_patched_later_never_moves_the_major_tag_back(scratch):
    scratch.cut("1.0.0", "First release.")
    scratch.run_workflow("v1.0.0")
    v110 = scratch.cut("1.1.0", "A new input.")
    scratch.run_workflow("v1.1.0")
    scratch.git("checkout", "-q", "-b", "release-1.0", "v1.0.0")
    v102 = scratch.cut("1.0.2", "A fix for 1.0 users.")
    scratch.run_workflow("v1.0.2")
    assert scratch.tag_points_at("v1") == v110 and scratch.tag_points_at("v1.1") == v110
    assert scratch.tag_points_at("v1.0") == v102
    assert scratch.fetch_as_a_consumer("v1") == says("1.1.0")
    assert scratch.fetch_as_a_consumer("v1.0") == says("1.0.2")


def test_the_workflow_refuses_a_tag_that_was_not_prepared(scratch):
    scratch.git("tag", "v1.0.0")
    scratch.git("push", "-q", "origin", "v1.0.0")
    with pytest.raises(AssertionError, match=f"onnx_package.__version__ is {__version__}"):
        scratch.run_workflow("v1.0.0")
    assert not scratch.gh_log.exists() and "v1" not in scratch.git("tag", "--list", cwd=scratch.origin).split()
