"""The tool's own image (the top-level Dockerfile), built on the local base and run the documented way, with
the host's Docker socket mounted: it packages examples/sentiment into the same image, with the same digest,
as the CLI on the host."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import docker
import pytest
from docker.utils.build import tar

from act_helpers import ROOT
from cli_runs import flags

if TYPE_CHECKING:
    from testbed import DockerCleanup, Registry

pytestmark = [pytest.mark.engine, pytest.mark.slow]

HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")  # this machine reaches PyPI through a TLS-inspecting proxy
SAME_INPUTS = {"SOURCE_DATE_EPOCH": "1700000000", "CI_COMMIT_SHA": "0123456789abcdef0123456789abcdef01234567"}


def build_context() -> io.BytesIO:
    """The repository as `docker build .` sends it (.dockerignore applied), plus the proxy's CA for pip."""
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    context = io.BytesIO(tar(str(ROOT), exclude=ignored).read())
    with tarfile.open(fileobj=context, mode="a") as archive:
        archive.add(HOST_CA, "requirements/pip-ca.pem")
    context.seek(0)
    return context


@pytest.fixture(scope="module")
def tool_image(docker_client: docker.DockerClient, base_image: str) -> Iterator[str]:
    tag = f"onnx-package-test/tool:{uuid.uuid4().hex[:8]}"
    docker_client.images.build(
        fileobj=build_context(),
        custom_context=True,
        tag=tag,
        network_mode="host",
        buildargs={"BASE_IMAGE": base_image},
        rm=True,
        forcerm=True,
    )
    yield tag
    docker_client.images.remove(tag, force=True)


def plain_outputs(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines())


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}


def run_on_host(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "onnx_package.cli", *args],
        cwd=work,
        text=True,
        capture_output=True,
        env={**clean_environ(), **SAME_INPUTS},
        timeout=900,
    )


def run_in_tool(
    image: str, work: Path, *args: str, network: str = "host", mounts: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """README's command: the engine's socket and the work folder mounted, the CLI as the entrypoint."""
    environment = [f"--env={name}={value}" for name, value in SAME_INPUTS.items()]
    command = [
        "docker",
        "run",
        "--rm",
        f"--network={network}",
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "-v",
        f"{work}:/work",
        "-w",
        "/work",
        "-v",
        f"{HOST_CA}:{HOST_CA}:ro",
        f"--env=PIP_CERT={HOST_CA}",
        *environment,
        *(f"--volume={mount}" for mount in mounts),
        image,
        *args,
    ]
    return subprocess.run(command, text=True, capture_output=True, timeout=900)


def inputs(registry_host: str, repository: str) -> list[str]:
    """A Python 3.13 base: neither this machine's Python (3.11.7) nor the tool image's (bookworm's 3.11.2) writes
    byte code for it, so the dependencies layer holds the wheels' files only. (Two runners of one Python minor
    version compile it, and 3.11.2 and 3.11.7 write a few line tables differently.)"""
    return flags(
        model_source="local",
        model_path="sentiment",
        base_image="onnx-package-test/base:trixie",
        images=f"{registry_host}/{repository}",
        tags="v1",
    )


def test_the_tool_image_packages_the_same_image_as_the_host(
    tmp_path, tool_image, registry: Registry, docker_cleanup: DockerCleanup
):
    for side in ("host", "tool"):
        shutil.copytree(ROOT / "examples" / "sentiment", tmp_path / side / "sentiment")
    repository = f"{docker_cleanup.prefix}/sentiment"
    on_host = run_on_host(tmp_path / "host", *inputs(registry.host, repository))
    assert on_host.returncode == 0, on_host.stderr[-2000:]
    in_tool = run_in_tool(tool_image, tmp_path / "tool", *inputs(registry.host, repository))
    assert in_tool.returncode == 0, in_tool.stderr[-2000:]
    tool, host = plain_outputs(in_tool.stdout), plain_outputs(on_host.stdout)
    assert Path(tool.pop("sbom")).name == Path(host.pop("sbom")).name  # each under its own temp folder
    assert tool == host
    assert plain_outputs(in_tool.stdout)["digest"] == registry.manifest_digest(repository, "v1")
    assert "already there" in in_tool.stderr  # the same image: the tool's run sent nothing


def test_on_a_bridge_network_the_check_shares_the_tool_containers_network(
    tmp_path, tool_image, docker_cleanup: DockerCleanup
):
    """Where the tool container is not on the host's network (GitLab's docker executor, an Azure container
    job), 127.0.0.1 is the tool container: the served container joins its network namespace. This machine's
    containers have no network, so the serving wheels come from the host's cache."""
    shutil.copytree(ROOT / "examples" / "sentiment", tmp_path / "sentiment")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "onnx-package"
    args = flags(
        model_source="local",
        model_path="sentiment",
        push="false",
        base_image="onnx-package-test/base:bookworm",
        model_name=docker_cleanup.prefix,
    )
    on_host = run_on_host(tmp_path, *args)  # fills the cache the tool reads below
    assert on_host.returncode == 0, on_host.stderr[-2000:]
    done = run_in_tool(
        tool_image,
        tmp_path,
        *args,
        network="bridge",
        mounts=(f"{cache}:/root/.cache/onnx-package",),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "1 of 1 answers match the runner's" in done.stderr
    assert plain_outputs(done.stdout)["model-name"] == docker_cleanup.prefix
