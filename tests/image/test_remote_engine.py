"""The container check wherever the engine runs: the CLI in its own network namespace, so its 127.0.0.1 is
not the engine's, packages the same image, with the same outputs, as the CLI on the host.

This reproduces, offline, a remote engine (DOCKER_HOST=tcp://other-host:2375: a port the engine
publishes is on the other host) and an engine whose socket reaches a process in another network
namespace (a rootless engine, a job container of another engine). Before the check went through the
engine when 127.0.0.1 cannot reach the container, both timed out in the check, telling the user to
raise check-timeout.

`unshare --net` gives the CLI a network namespace with only a loopback; tests/image/forwarder.py, started
inside it, serves the engine on tcp://127.0.0.1:<port> (to the host's Docker socket) and the registry on
its usual 127.0.0.1:<port> (to a unix socket this test serves on the host's side), so the engine pushes
to the registry and the tool confirms the digest there under the same name.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from forwarder import serve

from act_helpers import ROOT
from cli_runs import flags

if TYPE_CHECKING:
    from testbed import DockerCleanup, Registry

pytestmark = pytest.mark.engine

FORWARDER = Path(__file__).resolve().parent / "forwarder.py"
SAME_INPUTS = {"SOURCE_DATE_EPOCH": "1700000000", "CI_COMMIT_SHA": "0123456789abcdef0123456789abcdef01234567"}
ENGINE_SOCKET = "/var/run/docker.sock"


def cli_environ() -> dict[str, str]:
    plain = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_", "DOCKER_HOST"))}
    return {**plain, **SAME_INPUTS}


def plain_outputs(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


def inputs(registry: Registry, repository: str) -> list[str]:
    return flags(
        model_source="local",
        model_path="sentiment",
        base_image="onnx-package-test/base:bookworm",
        images=f"{registry.host}/{repository}",
        tags="v1",
    )


@pytest.fixture(scope="module")
def repository() -> str:
    return f"onnx-package-test-{uuid.uuid4().hex[:8]}/remote"


@pytest.fixture(scope="module")
def on_host(tmp_path_factory: pytest.TempPathFactory, registry: Registry, repository: str) -> dict[str, str]:
    """The outputs of the CLI on the host (which also fills the wheel cache the namespaced runs read)."""
    work = tmp_path_factory.mktemp("host")
    shutil.copytree(ROOT / "examples" / "sentiment", work / "sentiment")
    done = subprocess.run(
        [sys.executable, "-m", "onnx_package.cli", *inputs(registry, repository)],
        cwd=work,
        text=True,
        capture_output=True,
        env=cli_environ(),
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return plain_outputs(done.stdout)


@pytest.fixture
def registry_socket(tmp_path: Path, registry: Registry) -> Iterator[Path]:
    """The registry, served on a unix socket: the one way into the host's 127.0.0.1 from the namespace."""
    path = tmp_path / "registry.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(64)
    host, port = registry.host.split(":")
    serve(listener, lambda: socket.create_connection((host, int(port))))
    yield path
    listener.close()


def run_in_namespace(
    work: Path, registry: Registry, registry_socket: Path, repository: str, engine_over_tcp: bool
) -> subprocess.CompletedProcess[str]:
    shutil.copytree(ROOT / "examples" / "sentiment", work / "sentiment")
    port = registry.host.split(":")[1]
    engine = ["--engine", ENGINE_SOCKET] if engine_over_tcp else []
    command = [
        "unshare",
        "--net",
        sys.executable,
        str(FORWARDER),
        *engine,
        "--forward",
        f"{port}={registry_socket}",
        "--",
        *inputs(registry, repository),
    ]
    return subprocess.run(command, cwd=work, text=True, capture_output=True, env=cli_environ(), timeout=900)


@pytest.mark.parametrize("engine_over_tcp", [True, False], ids=["docker-host-tcp", "socket-from-another-netns"])
def test_the_check_reaches_the_container_through_the_engine(
    engine_over_tcp, tmp_path, registry, registry_socket, repository, on_host, docker_cleanup: DockerCleanup
):
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare (util-linux) for a network namespace")
    docker_cleanup.image(f"{registry.host}/{repository}:v1")
    done = run_in_namespace(tmp_path, registry, registry_socket, repository, engine_over_tcp)

    assert done.returncode == 0, done.stderr[-3000:]
    assert "through the engine" in done.stderr, done.stderr[-3000:]
    assert "1 of 1 answers match the runner's" in done.stderr
    assert plain_outputs(done.stdout) == on_host
    assert on_host["digest"] == registry.manifest_digest(repository, "v1")
