import json
import subprocess

import pytest

from onnx_package.errors import SettingsError
from onnx_package.inputs import INPUTS
from onnx_package.settings import Secret, load_settings, require, source_date_epoch


def test_defaults_apply_when_nothing_is_given():
    settings = load_settings({}, {})
    assert settings.model_source == "azureml"
    assert settings.model_version == "latest"
    assert settings.base_image == "python:3.11-slim"
    assert settings.push is True
    assert settings.images == () and settings.sample is None


def test_cli_flag_wins_over_input_variable_and_both_spellings_are_read():
    environ = {"INPUT_MODEL-PATH": "/from/env", "INPUT_BASE_IMAGE": "debian:12", "INPUT_PUSH": "false"}
    settings = load_settings({"model-path": "/from/cli"}, environ)
    assert settings.model_path == "/from/cli"
    assert settings.base_image == "debian:12"
    assert settings.push is False


@pytest.mark.parametrize("raw", ["a/x\nb/y", "a/x, b/y", " a/x ,\n\n b/y \n", "a/x b/y"])
def test_images_take_newlines_commas_or_spaces(raw):
    assert load_settings({"images": raw}, {}).images == ("a/x", "b/y")


def test_labels_keep_their_spaces():
    assert load_settings({"class-labels": "very bad, very good"}, {}).class_labels == ("very bad", "very good")


def test_json_inputs_inline_and_from_file(tmp_path):
    (tmp_path / "sample.json").write_text('{"data": [[1, 2]]}')
    settings = load_settings({"sample": f"@{tmp_path / 'sample.json'}", "expected": '{"positive": true}'}, {})
    assert settings.sample == {"data": [[1, 2]]}
    assert settings.expected == {"positive": True}


@pytest.mark.parametrize(
    ("name", "raw", "needle"),
    [
        ("sample", "[not json", "sample is not valid JSON"),
        ("sample", "@/nonexistent/sample.json", "does not exist"),
        ("push", "maybe", "push is 'maybe', not a boolean"),
        ("check-timeout", "soon", "not a whole number"),
        ("model-source", "s3", "set model-source to one of: azureml, local, url"),
    ],
)
def test_bad_values_name_the_input_and_the_fix(name, raw, needle):
    with pytest.raises(SettingsError) as caught:
        load_settings({name: raw}, {})
    assert needle in str(caught.value)
    assert "Fix:" in str(caught.value) and "\n" not in str(caught.value)


def test_secrets_never_show_in_reprs():
    settings = load_settings({"azure-credentials": json.dumps({"clientSecret": "s3cr3t-value"})}, {})
    assert "s3cr3t-value" not in repr(settings) and "s3cr3t-value" not in str(settings.azure_credentials)
    assert settings.secrets() == [json.dumps({"clientSecret": "s3cr3t-value"})]
    assert repr(Secret("x")) == "Secret('**********')"


def test_require_lists_what_is_missing():
    with pytest.raises(SettingsError, match="model-source local needs model-path"):
        require(load_settings({}, {}), "model-path", why="model-source local")


def test_every_input_is_a_kebab_case_name_with_a_description():
    for spec in INPUTS:
        assert spec.name == spec.name.lower() and " " not in spec.name and spec.description


def test_the_image_time_is_source_date_epoch_else_the_commits_never_the_clock(tmp_path):
    assert source_date_epoch({"SOURCE_DATE_EPOCH": "1700000000"}, "") == 1700000000
    with pytest.raises(SettingsError, match="SOURCE_DATE_EPOCH is 'yesterday'"):
        source_date_epoch({"SOURCE_DATE_EPOCH": "yesterday"}, "")
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    committed = subprocess.run(
        ["git", "show", "-s", "--format=%ct", head], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert source_date_epoch({}, head) == int(committed)
    assert source_date_epoch({}, "") == 0 and source_date_epoch({}, "0" * 40) == 0  # no commit: 1970, not now


def test_without_git_the_commit_time_comes_from_the_ci_system(tmp_path):
    """A job container has no git: GitHub's push event and GitLab's variables still say when the commit was made."""
    unknown = "f" * 40  # not a commit git knows: as in a checkout without git
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"head_commit": {"id": unknown, "timestamp": "2026-11-30T18:00:00+01:00"}}))
    assert source_date_epoch({"GITHUB_EVENT_PATH": str(event)}, unknown) == 1796058000
    assert source_date_epoch({"GITHUB_EVENT_PATH": str(event)}, "e" * 40) == 0  # another commit's time: not used
    gitlab = {"CI_COMMIT_SHA": unknown, "CI_COMMIT_TIMESTAMP": "2026-11-30T17:00:00Z"}
    assert source_date_epoch(gitlab, unknown) == 1796058000
