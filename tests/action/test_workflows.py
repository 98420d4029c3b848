"""The pin contract: zizmor finds nothing in our workflows, Dependabot config and action.yml; every
third-party action (workflows and examples) is pinned by commit SHA with its version, and no checkout
keeps the token."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from act_helpers import ROOT

AUDITED = [
    *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / ".github" / "workflows").glob("*.yml")),
    ".github/dependabot.yml",
    "action.yml",
    "cache-key/action.yml",
]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
OTHER_CI = ("azure-pipelines.yml", ".gitlab-ci.yml")  # no GitHub workflows: tests/action/test_examples.py checks them
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.yml") if p.name not in OTHER_CI)
OURS = "org/onnx-package-action@v1"  # the examples show users the published action by its major tag
PINNED = re.compile(r"^\s*(?:- )?uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def zizmor() -> str:
    """zizmor from the test dependencies, installed beside this Python, or on PATH."""
    beside = Path(sys.executable).parent / "zizmor"
    found = str(beside) if beside.exists() else shutil.which("zizmor")
    if found is None:
        pytest.fail("zizmor is not installed: it is a test dependency (pip install zizmor==1.32.0)")
    return found


def describe(finding: dict[str, Any]) -> str:
    where = next((loc for loc in finding["locations"] if loc["symbolic"]["kind"] == "Primary"), finding["locations"][0])
    path = where["symbolic"]["key"]["Local"]["verbatim_path"]
    line = where["concrete"]["location"]["start_point"]["row"] + 1
    severity = finding["determinations"]["severity"]
    return f"{path}:{line}: {finding['ident']} ({severity}): {finding['desc']}: {where['symbolic']['annotation']}"


def test_zizmor_finds_nothing():
    """Offline and with its default persona; an accepted finding is ignored inline, with the reason."""
    done = subprocess.run(
        [zizmor(), "--offline", "--format", "json", *AUDITED], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode in (0, 10, 11, 12, 13, 14), done.stderr  # 1 or 2: zizmor itself failed
    findings = json.loads(done.stdout)
    assert findings == [], "zizmor:\n" + "\n".join(describe(finding) for finding in findings)
    assert done.returncode == 0


@pytest.mark.parametrize("path", WORKFLOWS + EXAMPLES, ids=lambda p: p.name)
def test_third_party_actions_are_pinned_by_sha_with_their_version(path):
    uses = [line for line in path.read_text().splitlines() if re.match(r"^\s*(- )?uses: ", line)]
    third_party = [line for line in uses if "uses: ./" not in line and not line.strip().endswith(OURS)]
    assert third_party or path in EXAMPLES, f"{path.name}: no action used"
    unpinned = [line.strip() for line in third_party if not PINNED.match(line)]
    assert unpinned == [], f"{path.name}: pin by full commit SHA with `# vX.Y.Z`: {unpinned}"


@pytest.mark.parametrize("path", WORKFLOWS + EXAMPLES, ids=lambda p: p.name)
def test_no_checkout_keeps_the_token(path):
    steps = [step for job in yaml.safe_load(path.read_text())["jobs"].values() for step in job.get("steps", [])]
    checkouts = [step for step in steps if step.get("uses", "").startswith("actions/checkout@")]
    assert checkouts, f"{path.name}: no checkout"
    assert all(step.get("with", {}).get("persist-credentials") is False for step in checkouts), path.name


def test_one_sha_per_action_everywhere():
    """Dependabot moves each action's pin in every file at once: two SHAs for one action is a stale pin."""
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS + EXAMPLES:
        for action, sha in re.findall(r"uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40})", path.read_text()):
            pins.setdefault(action, set()).add(sha)
    assert pins and all(len(shas) == 1 for shas in pins.values()), pins
