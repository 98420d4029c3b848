"""Faults on the runner, each reported within a bounded time by one clear line, with nothing pushed.

Registry faults (5xx, 429, resets mid-push, a dead registry, wrong credentials) are covered by
tests/registry; Azure ML faults (401, 403, 404, 500, timeouts, an unreachable service) by tests/sources.
This adds what those cannot reach: a container that never becomes ready, a full disk under the build
context, and an engine that is not there.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import docker
import pytest
from bed import Bed, assert_refused

from cli_runs import Run, base_with_python3, package_local
from disk_usage import tmpfs
from models import make_external_data_model, make_tabular_classifier

if TYPE_CHECKING:
    from testbed import DockerCleanup

pytestmark = [pytest.mark.engine, pytest.mark.reliability]

BOUND = 600  # seconds: the longest any faulty run may take, build included (a few seconds to a minute here)


def stage_seconds(stderr: str, stage: str) -> float:
    """How long a stage took, from the run's log ("    Check container: 3.2 s")."""
    found = re.findall(rf"^\s+{re.escape(stage)}: ([0-9.]+) s$", stderr, re.MULTILINE)
    assert found, stderr
    return float(found[-1])


def local_run(bed: Bed, *extra: str, env: dict[str, str] | None = None) -> tuple[Run, float]:
    model = make_tabular_classifier(bed.tmp_path / "wine")
    started = time.monotonic()
    run = package_local(
        bed.tmp_path, model, *extra, images=bed.images(), tags="v1", base_image=bed.base_image, env=env, timeout=BOUND
    )
    return run, time.monotonic() - started


# --- the container check times out ------------------------------------------------------------------


@pytest.fixture
def hanging_base(
    docker_client: docker.DockerClient, docker_cleanup: DockerCleanup, base_image: str, tmp_path: Path
) -> str:
    """The base image with a python3 that does all the tool asks of it (the base probe, compiling the byte
    code) but never serves."""
    script = '#!/bin/sh\ncase "$*" in *onnx_serve*) exec sleep 3600 ;; esac\nexec /usr/bin/python3 "$@"\n'
    tag = f"{docker_cleanup.prefix}-hanging-python:1"
    return docker_cleanup.image(base_with_python3(docker_client, base_image, tmp_path / "hanging-base", tag, script))


def test_a_container_that_never_gets_ready_fails_the_check_at_check_timeout(
    bed: Bed, hanging_base: str, docker_client: docker.DockerClient
) -> None:
    run, seconds = local_run(bed, "--base-image", hanging_base, "--check-timeout", "3")
    print(assert_refused(run, bed, "Container check failed: the container was not ready after 3 s"))
    assert "raise check-timeout" in run.stderr and "(it printed nothing)" in run.stderr
    assert stage_seconds(run.stderr, "Check container") < 3 + 60, run.stderr  # the timeout, plus a slow engine
    assert seconds < BOUND
    built = f"{bed.registries[0].host}/{bed.repo}:v1"
    assert docker_client.containers.list(all=True, filters={"ancestor": built}) == [], "the check left a container"


# --- the disk under the work folder is full ----------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs: too small for a 20 MB model, which must be copied there (a link cannot cross file systems).
    Unmounted after."""
    with tmpfs(tmp_path / "small-disk", "8m") as mount:
        yield mount


def test_a_full_disk_under_the_work_folder_says_how_much_the_run_needs_and_frees_the_space(
    bed: Bed, small_disk: Path
) -> None:
    model = make_external_data_model(bed.tmp_path / "big", megabytes=20)
    started = time.monotonic()
    run = package_local(
        bed.tmp_path,
        model,
        images=bed.images(),
        tags="v1",
        base_image=bed.base_image,
        env={"RUNNER_TEMP": str(small_disk)},
        timeout=BOUND,
    )
    line = assert_refused(run, bed, "Disk full: no space left: ")
    print(line)
    assert "No space left on device" in line and "weights.bin" in line
    fix = line.split(". Fix: ")[1]
    assert f"in {small_disk} and the dependency cache (20 MB model + " in fix and "RUNNER_TEMP" in fix, fix
    assert re.search(r"^free about [0-9.]+ (GB|MB) on the runner", fix), fix
    assert len(line) < 1000, line
    assert shutil.disk_usage(small_disk).used < 1_000_000  # the half-copied model is gone again
    assert time.monotonic() - started < BOUND


# --- the engine is not there -------------------------------------------------------------------------


def test_no_docker_engine_is_one_line_before_the_model_is_fetched(bed: Bed) -> None:
    run, seconds = local_run(bed, env={"DOCKER_HOST": f"unix://{bed.tmp_path}/no-engine.sock"})
    line = assert_refused(run, bed, "cannot reach the Docker engine")
    print(line)
    assert "DOCKER_HOST" in line.split(". Fix: ")[1]
    assert "==> Fetch model" not in run.stderr and seconds < BOUND
