"""The GitHub edge without a runner: workflow commands, masks, the step summary, and entrypoint.py."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

from act_helpers import ROOT
from cli_runs import parse_github_output
from onnx_package.ci.github import GitHubReporter, escape_data, escape_property, summary_success, values_to_mask
from onnx_package.image.base_image import BaseImage
from onnx_package.model.smoke import Probe
from onnx_package.pipeline import Result
from onnx_package.registry.refs import Pushed, parse_repository
from onnx_package.settings import load_settings

AZURE_CREDENTIALS = """{
  "clientId": "11111111-2222-3333-4444-555555555555",
  "clientSecret": "s3cr3t~value%with:odd,chars",
  "subscriptionId": "66666666-7777-8888-9999-000000000000",
  "tenantId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
  "activeDirectoryEndpointUrl": "https://login.microsoftonline.com"
}"""
REGISTRY_AUTH = """\
- registry: ghcr.io
  username: me
  password: ghp_first_password
- registry: docker.io
  username: me
  password: 12345678
"""


def reporter(tmp_path) -> tuple[GitHubReporter, io.StringIO]:
    stream = io.StringIO()
    return GitHubReporter({"GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}, stream), stream


def test_command_escaping():
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("Invalid input: a, b") == "Invalid input%3A a%2C b"


def test_the_secret_inside_azure_credentials_is_masked_not_its_braces():
    masked = values_to_mask(AZURE_CREDENTIALS)
    assert masked == ["s3cr3t~value%with:odd,chars"]


def test_every_registry_auth_password_is_masked():
    assert values_to_mask(REGISTRY_AUTH) == ["ghp_first_password", "12345678"]


def test_a_one_line_secret_is_masked_whole():
    compact = json.dumps({"clientId": "id", "clientSecret": "xyz"})
    assert values_to_mask(compact) == [compact, "xyz"]
    assert values_to_mask("  plain-token \n") == ["plain-token"]
    assert values_to_mask("") == []


def test_start_masks_each_secret_input(tmp_path):
    report, stream = reporter(tmp_path)
    settings = load_settings({}, {"INPUT_AZURE_CREDENTIALS": AZURE_CREDENTIALS, "INPUT_REGISTRY_AUTH": REGISTRY_AUTH})
    report.start(settings)
    assert stream.getvalue().splitlines() == [
        "::add-mask::s3cr3t~value%25with:odd,chars",
        "::add-mask::ghp_first_password",
        "::add-mask::12345678",
    ]


def test_a_token_learned_during_the_run_is_masked_once(tmp_path):
    report, stream = reporter(tmp_path)
    for _ in range(3):  # azure-identity hands its cached token out again and again
        report.mask("eyJ0eXAiOi.token")
    assert stream.getvalue().splitlines() == ["::add-mask::eyJ0eXAiOi.token"]


def test_stages_are_groups_and_log_text_cannot_run_workflow_commands(tmp_path):
    report, stream = reporter(tmp_path)
    with report.stage("Build image"):
        report.info("Step 1/9 : FROM base")
        report.info("::add-mask::from a model's metadata")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "::group::Build image" and lines[-1] == "::endgroup::"
    start = lines.index("::add-mask::from a model's metadata") - 1
    token = lines[start].removeprefix("::stop-commands::")
    assert len(token) == 32 and lines[start + 2] == f"::{token}::"
    assert report.stage_seconds["Build image"] >= 0


def test_a_failure_is_an_error_annotation_and_a_summary_with_the_fix(tmp_path):
    report, stream = reporter(tmp_path)
    report.fail("Invalid input", "images entry 'a:b' carries a tag. Fix: list the repository only (a)")
    assert stream.getvalue() == (
        "::error title=Invalid input::images entry 'a:b' carries a tag. Fix: list the repository only (a)\n"
    )
    summary = (tmp_path / "summary.md").read_text()
    assert "### onnx-package failed: Invalid input" in summary and "**Fix:** list the repository only (a)" in summary


def make_result() -> Result:
    repo_a, repo_b = parse_repository("127.0.0.1:5000/demo/sentiment"), parse_repository("ghcr.io/org/sentiment")
    return Result(
        spec={"name": "sentiment", "version": "3", "sha256": "ab" * 32},
        image_id="sha256:feed",
        probe=Probe("/predict", ["Containers | are good"], {"positive": True}),
        ready_seconds=1.5,
        base=BaseImage(
            "python:3.12-slim",
            "docker.io/library/python@sha256:" + "b" * 64,
            "sha256:" + "b" * 64,
            "sha256:" + "c" * 64,
            "3.12",
            "x86_64",
        ),
        image_size=345_600_000,
        pushed=[Pushed(repo_a, "v1", "sha256:d1"), Pushed(repo_b, "v1", "sha256:d1")],
    )


def test_the_step_summary_tells_what_was_packaged_where(tmp_path):
    summary = summary_success(
        make_result(), {"digest": "sha256:d1"}, {"Fetch model": 0.25, "Build image": 40.0, "Push": 3.0}
    )
    for row in (
        "| model | `sentiment` |",
        "| version | `3` |",
        f"| sha256 | `{'ab' * 32}` |",
        '| smoke test | passed: POST /predict `["Containers \\| are good"]` → `{"positive": true}`',
        "| image | `sha256:feed`, 345.6 MB |",
        "| `127.0.0.1:5000/demo/sentiment:v1` | `sha256:d1` |",
        "| `ghcr.io/org/sentiment:v1` | `sha256:d1` |",
        "| Build image | 40.0 s |",
        "| total | 43.2 s |",
        f"| base image | `python:3.12-slim@sha256:{'b' * 64}, Python 3.12, linux/x86_64` |",
    ):
        assert row in summary, row
    report, _ = reporter(tmp_path)
    report.finish(make_result(), {"digest": "sha256:d1"})
    assert "### Packaged sentiment version 3" in (tmp_path / "summary.md").read_text()


def test_entrypoint_stops_on_a_bad_input_with_an_annotation_and_no_outputs(tmp_path):
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("INPUT_", "GITHUB_"))}
    environ.update(
        {
            "GITHUB_OUTPUT": str(tmp_path / "output"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
            "RUNNER_TEMP": str(tmp_path),
            "INPUT_MODEL_SOURCE": "local",
            "INPUT_MODEL_PATH": "examples/sentiment",
            "INPUT_IMAGES": "127.0.0.1:5000/demo/sentiment:v1",
            "INPUT_AZURE_CREDENTIALS": AZURE_CREDENTIALS,
        }
    )
    (tmp_path / "output").write_text("")
    done = subprocess.run(
        [sys.executable, str(ROOT / "entrypoint.py")],
        env=environ,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0] == "::add-mask::s3cr3t~value%25with:odd,chars"
    assert lines[-1].startswith("::error title=Invalid input::images entry '127.0.0.1:5000/demo/sentiment:v1'")
    assert "Fix: list the repository only (127.0.0.1:5000/demo/sentiment)" in lines[-1]
    assert parse_github_output((tmp_path / "output").read_text()) == {}
    assert "**Fix:**" in (tmp_path / "summary").read_text()


def test_a_warning_is_an_annotation_that_cannot_run_commands(tmp_path):
    gh, stream = reporter(tmp_path)
    gh.warn("using the local base image\n::add-mask::x")
    assert stream.getvalue() == "::warning::using the local base image%0A::add-mask::x\n"
