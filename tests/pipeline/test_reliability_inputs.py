"""A catalogue of bad inputs to the CLI: each run fails with one clear line (cause + fix) and pushes nothing.

Most cases stop before the build, in a second or two. The few that need an image (a base image
without Python, a registry that cannot be pushed to) share the engine's build cache: same model, same base.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import bad_models
import docker
import pytest
from bed import Bed, assert_refused

from cli_runs import Run, flags, run_cli
from models import corrupt_model, make_tabular_classifier, tabular_rows

if TYPE_CHECKING:
    from bed import AzureWorkspace

pytestmark = [pytest.mark.engine, pytest.mark.reliability]

FAST_RUN = 120  # seconds: a run that stops before the build
BUILD_RUN = 600  # seconds: a run that builds and checks an image first


def no_env(bed: Bed) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Case:
    """One bad input: the CLI arguments it is given, and what its error line must name."""

    id: str
    args: Callable[[Bed], list[str]]
    cause: str
    env: Callable[[Bed], dict[str, str]] = field(default=no_env)


def local(bed: Bed, model: Path | str, *extra: str) -> list[str]:
    """A local-model run to the bed's registries; a flag in `extra` given again overrides the one here."""
    return [
        *flags(model_source="local", model_path=model, images=bed.images(), tags="v1", base_image=bed.base_image),
        *extra,
    ]


def wine(bed: Bed) -> Path:
    return make_tabular_classifier(bed.tmp_path / "wine")


def bad(factory: Callable[[Path], Path], *extra: str) -> Callable[[Bed], list[str]]:
    return lambda bed: local(bed, factory(bed.tmp_path / "model"), *extra)


def with_wine(*extra: str) -> Callable[[Bed], list[str]]:
    return lambda bed: local(bed, wine(bed), *extra)


def registry_auth(entries: str) -> Callable[[Bed], dict[str, str]]:
    return lambda bed: {"INPUT_REGISTRY_AUTH": entries}


def offline_hub(bed: Bed) -> dict[str, str]:
    return {"HF_HOME": str(bed.tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}


WINE_ROWS = json.dumps({"data": tabular_rows("wine", 3)})

CASES = [
    # --- the model
    Case("model-path-missing", lambda bed: local(bed, bed.tmp_path / "nowhere"), "does not exist"),
    Case("model-path-empty", lambda bed: local(bed, ""), "model-source local needs model-path"),
    Case(
        "model-path-without-source-local",
        lambda bed: ["--model-path", str(wine(bed)), "--images", bed.images()],
        "model-path is set but model-source is azureml",
    ),
    Case("model-file-empty", bad(bad_models.empty_model), "cannot load model.onnx"),
    Case("model-file-corrupt", bad(corrupt_model), "not a valid ONNX model"),
    Case("folder-without-onnx", bad(bad_models.not_onnx_folder), "no .onnx file found"),
    Case("several-onnx-files", bad(bad_models.two_models), "several .onnx files"),
    Case("model-file-not-there", bad(bad_models.two_models, "--model-file", "c.onnx"), "model-file 'c.onnx'"),
    Case("unknown-operator", bad(bad_models.unknown_operator_model), "FancyAttention"),
    Case("string-inputs-no-tokenizer", bad(bad_models.string_input_model), "string inputs ['text']"),
    Case("token-ids-no-tokenizer", bad(bad_models.token_ids_model), "no tokenizer came with it"),
    Case(
        "tokenizer-not-reachable",
        bad(bad_models.token_ids_model, "--tokenizer", "some-org/no-such-tokenizer"),
        "tokenizer 'some-org/no-such-tokenizer' could not be loaded",
        env=offline_hub,
    ),
    Case("nan-output", bad(bad_models.nan_model), "NaN or infinity"),
    Case("external-data-missing", bad(bad_models.missing_external_data_model), "weights.bin, which is missing"),
    Case("sha256-of-another-version", with_wine("--model-sha256", "0" * 64), "not the expected 000"),
    # --- sample and expected
    Case("sample-not-json", with_wine("--sample", '{"data": [[1, 2'), "sample is not valid JSON"),
    Case("expected-not-json", with_wine("--expected", "[0, 0,"), "expected is not valid JSON"),
    Case(
        "sample-file-missing",
        lambda bed: local(bed, wine(bed), "--sample", f"@{bed.tmp_path}/nope.json"),
        "sample: file",
    ),
    Case("sample-wrong-width", with_wine("--sample", '{"data": [[1.0, 2.0]]}'), "rejects the sample"),
    Case("text-sample-for-tabular-model", with_wine("--sample", '["Containers are good"]'), "is text but"),
    Case(
        "sample-disagrees-with-expected",
        with_wine("--sample", WINE_ROWS, "--expected", "[1, 1, 1]"),
        "expected [1, 1, 1]",
    ),
    # --- images and tags
    Case("image-uppercase", with_wine("--images", "Registry.example.com/Me/Model"), "not a valid image repository"),
    Case(
        "image-with-tag", lambda bed: local(bed, wine(bed), "--images", f"{bed.images()}:v1"), "carries a tag or digest"
    ),
    Case("image-port-out-of-range", with_wine("--images", "127.0.0.1:70000/demo/model"), "has port 70000"),
    Case("image-twice", lambda bed: local(bed, wine(bed), "--images", f"{bed.images()}\n{bed.images()}"), "twice"),
    Case("no-images-to-push", with_wine("--images", ""), "images is empty"),
    Case("tag-invalid", with_wine("--tags=-v1"), "tag '-v1' is not a valid image tag"),
    Case("tag-reference-without-tag", with_wine("--tags", "ghcr.io/org/model"), "repository without a tag"),
    Case("class-labels-given-as-labels", with_wine("--labels", "bad,good"), "(class labels are an input of their own"),
    Case(
        "label-forging-the-model-sha256",
        with_wine("--labels", "io.github.onnx-package.model.sha256=0"),
        "records the packaged model",
    ),
    Case("annotation-unknown-level", with_wine("--annotations", "layer:org.example.a=1"), "is not [level:]key=value"),
    Case(
        "registry-auth-ecr-key-exchange",
        with_wine(),
        "Amazon ECR login",
        env=registry_auth(
            "- registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com\n  username: AKIA\n  password: s\n"
        ),
    ),
    Case(
        "registry-auth-not-yaml",
        with_wine(),
        "registry-auth is not valid YAML",
        env=registry_auth("- registry: [ghcr.io\n  username: me"),
    ),
    Case(
        "registry-auth-without-password",
        with_wine(),
        "has no password",
        env=registry_auth("- registry: ghcr.io\n  username: me\n"),
    ),
    Case("registry-ca-missing", with_wine("--registry-ca", "/nonexistent/ca.pem"), "registry-ca"),
    # --- Azure ML
    Case(
        "azure-inputs-missing",
        lambda bed: ["--model-name", "wine", "--images", bed.images()],
        "model-source azureml needs workspace, resource-group",
    ),
    Case(
        "azure-workspace-and-registry",
        lambda bed: [
            "--workspace",
            "ws",
            "--registry-name",
            "shared",
            "--model-name",
            "wine",
            "--images",
            bed.images(),
        ],
        "both workspace (ws) and registry-name (shared)",
    ),
    Case(
        "model-url-not-https",
        lambda bed: ["--model-source", "url", "--model-url", "http://example.com/m.onnx", "--images", bed.images()],
        "is not an https URL",
    ),
    # --- the inputs themselves
    Case(
        "model-source-unknown", lambda bed: ["--model-source", "s3", "--images", bed.images()], "model-source is 's3'"
    ),
    Case("check-timeout-not-a-number", with_wine("--check-timeout", "soon"), "not a whole number"),
    Case("push-not-a-boolean", with_wine("--push", "maybe"), "not a boolean"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_bad_input_stops_before_the_build_with_one_line(case: Case, bed: Bed) -> None:
    run = run_cli(bed.tmp_path, *case.args(bed), env=case.env(bed), timeout=FAST_RUN)
    print(assert_refused(run, bed, case.cause))
    assert "==> Build image" not in run.stderr


def test_the_catalogue_is_at_least_twenty_distinct_cases() -> None:
    assert len({case.id for case in CASES}) == len(CASES) >= 20


# --- cases that need an image: the engine's build cache keeps them short ---------------------------


def built_run(bed: Bed, *extra: str, env: dict[str, str] | None = None) -> Run:
    return run_cli(bed.tmp_path, *local(bed, wine(bed), "--check-timeout", "60", *extra), env=env, timeout=BUILD_RUN)


def test_a_base_image_without_python_is_refused_before_the_build(
    bed: Bed, tiny_image: Callable[[str], str], docker_client: docker.DockerClient
) -> None:
    base = tiny_image(f"{bed.prefix}-nopython:1")
    run = built_run(bed, "--base-image", base)
    line = assert_refused(run, bed, f"Image build failed: base-image {base} has no python3")
    print(line)
    assert "python3" in line.split(". Fix: ")[1], line
    assert "==> Build image" not in run.stderr
    assert docker_client.containers.list(all=True, filters={"ancestor": base}) == [], "the probe left a container"


def test_a_base_image_the_engine_does_not_have(bed: Bed) -> None:
    missing = f"{bed.registries[0].host}/{bed.prefix}/no-such-base:1"
    run = built_run(bed, "--base-image", missing)
    print(assert_refused(run, bed, f"Image build failed: cannot resolve base-image {missing} on "))


def test_an_unknown_registry_host(bed: Bed) -> None:
    run = built_run(bed, "--images", f"registry.nonexistent.invalid/{bed.repo}")
    line = assert_refused(run, bed, "Push failed")
    print(line)
    assert "registry.nonexistent.invalid" in line


def test_a_wrong_password_on_the_auth_registry(bed: Bed) -> None:
    auth = bed.registries[1]
    entries = f"- registry: {auth.host}\n  username: {auth.username}\n  password: not-{auth.password}\n"
    run = built_run(bed, "--images", bed.images(auth), env={"INPUT_REGISTRY_AUTH": entries})
    line = assert_refused(run, bed, "Push failed")
    print(line)
    assert "log in to" in line and f"not-{auth.password}" not in run.stderr
    assert "==> Fetch model" not in run.stderr  # refused before the model download


def test_a_wrong_password_on_one_of_two_registries_pushes_nothing(bed: Bed) -> None:
    plain, auth = bed.registries
    entries = f"- registry: {auth.host}\n  username: {auth.username}\n  password: not-{auth.password}\n"
    run = built_run(bed, "--images", bed.images(plain, auth), env={"INPUT_REGISTRY_AUTH": entries})
    assert_refused(run, bed, "Push failed")
    assert "==> Build image" not in run.stderr


def test_a_model_version_azure_ml_does_not_have(bed: Bed, azure_ws: AzureWorkspace) -> None:
    azure_flags = flags(
        workspace="ws",
        resource_group="rg",
        subscription_id=azure_ws.subscription,
        model_name="wine",
        model_version="9",
        images=bed.images(),
        tags="v1",
        base_image=bed.base_image,
    )  # the base is resolved before the model is fetched
    env = {**azure_ws.environ, "INPUT_AZURE_CREDENTIALS": azure_ws.credentials}
    run = run_cli(bed.tmp_path, *azure_flags, env=env, timeout=FAST_RUN)
    line = assert_refused(run, bed, "model wine has no version 9 in workspace ws")
    print(line)
    assert "it has versions 1, 2" in line
    assert azure_ws.secret not in run.stderr
