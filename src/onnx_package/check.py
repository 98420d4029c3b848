"""Run the built image and require the answer the runner gave, before anything is pushed."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from typing import Any

import docker
from docker.models.containers import Container

from .errors import ContainerCheckError
from .http_json import request_json
from .report import Reporter
from .settings import Settings
from .smoke import Probe, same_answer, short

PORT = "8080/tcp"
READY_PATH = "/v2/health/ready"


def logs_tail(container: Container, lines: int = 5) -> str:
    try:
        text = container.logs(tail=lines).decode(errors="replace").strip()
    except docker.errors.APIError:
        return ""
    return " | ".join(text.splitlines()[-lines:])


def with_log(cause: str, container: Container) -> str:
    tail = logs_tail(container)
    return f"{cause}: {tail}" if tail else f"{cause} (it printed nothing)"


def own_container(client: docker.DockerClient) -> Container | None:
    """The container this tool runs in, when the engine it drives runs it (its socket is mounted); None on a host.

    Docker mounts /etc/hostname from /var/lib/docker/containers/<id>/: /proc/self/mountinfo names the id."""
    try:
        match = re.search(r"/containers/([0-9a-f]{64})/", Path("/proc/self/mountinfo").read_text())
        return client.containers.get(match.group(1)) if match else None
    except (OSError, docker.errors.NotFound):
        return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def network_options(client: docker.DockerClient) -> dict[str, Any]:
    """How this process reaches the server: on a host (or a host-network container), a port published on
    127.0.0.1; in a container on a bridge network, where 127.0.0.1 is that container, by sharing its network
    namespace and serving on a free port of it."""
    tool = own_container(client)
    if tool is None or tool.attrs["HostConfig"].get("NetworkMode") == "host":
        return {"ports": {PORT: ("127.0.0.1", None)}}
    return {"network_mode": f"container:{tool.id}", "environment": {"PORT": str(free_port())}}


def host_url(container: Container) -> str | None:
    if container.attrs["HostConfig"].get("NetworkMode", "").startswith("container:"):
        port = next(item.partition("=")[2] for item in container.attrs["Config"]["Env"] if item.startswith("PORT="))
        return f"http://127.0.0.1:{port}"
    bindings = (container.attrs["NetworkSettings"].get("Ports") or {}).get(PORT)
    return f"http://127.0.0.1:{bindings[0]['HostPort']}" if bindings else None


def wait_ready(container: Container, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        if container.status in ("exited", "dead"):
            raise ContainerCheckError(with_log("the container exited before it was ready", container),
                                      "check that base-image has python3 3.11 and that the model loads in "
                                      "onnxruntime on linux")
        url = host_url(container)
        if url:
            try:
                if request_json("GET", url + READY_PATH, timeout=2)[0] == 200:
                    return url
            except OSError:
                pass  # not listening yet
        time.sleep(0.2)
    raise ContainerCheckError(with_log(f"the container was not ready after {timeout:.0f} s", container),
                              "raise check-timeout for large models, or read the container log above")


def start_fix(explanation: str) -> str:
    if "executable file not found" in explanation:
        return "use a base-image with python3 3.11 on its PATH (e.g. python:3.11-slim)"
    return "check that base-image runs on this engine's platform"


def start_container(client: docker.DockerClient, image_id: str) -> Container:
    """Create and start the image read-only; one that cannot start is removed, not left on the runner."""
    container: Container | None = None
    try:
        container = client.containers.create(image_id, read_only=True, tmpfs={"/tmp": "size=64m"},
                                             labels={"io.github.onnx-package.check": "1"},
                                             **network_options(client))
        container.start()
    except docker.errors.APIError as err:
        if container is not None:
            container.remove(force=True)
        explanation = str(err.explanation or err)
        raise ContainerCheckError(f"the image did not start: {explanation}", start_fix(explanation)) from err
    return container


# A large golden set is answered in full on the runner; the container gets its first this many requests.
CONTAINER_SAMPLES = 100


def check_container(client: docker.DockerClient, settings: Settings, image_id: str, probes: list[Probe],
                    reporter: Reporter) -> float:
    """Start the image read-only, wait for ready, compare its answers; return seconds to ready."""
    container = start_container(client, image_id)
    try:
        started = time.monotonic()
        url = wait_ready(container, settings.check_timeout)
        ready_seconds = time.monotonic() - started
        sent = probes[:CONTAINER_SAMPLES]
        reporter.info(f"    ready in {ready_seconds:.1f} s; POST {sent[0].path} {short(sent[0].body)}"
                      + (f" and {len(sent) - 1} more samples" if len(sent) > 1 else ""))
        for probe in sent:
            compare_answer(url, probe)
        reporter.info(f"    {len(sent)} of {len(probes)} answers match the runner's")
        return ready_seconds
    finally:
        container.remove(force=True)


def compare_answer(url: str, probe: Probe) -> None:
    status, answer = request_json("POST", url + probe.path, probe.body)
    if status != 200 or not same_answer(answer, probe.answer):
        raise ContainerCheckError(f"the container answered {status} {short(answer)} to {short(probe.body, 60)} "
                                  f"where the runner answered {short(probe.answer)}",
                                  "the image differs from the runner: check base-image's CPU platform "
                                  "and the container log")
