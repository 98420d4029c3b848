"""Run the built image and require the answer the runner gave, before anything is pushed."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path
from typing import Any, Protocol, cast

import docker
from docker.models.containers import Container

from ..errors import ContainerCheckError
from ..model.smoke import Probe, same_answer
from ..report import Reporter, short
from ..settings import Settings
from .http_json import decode, request_json

PORT = "8080/tcp"
READY_PATH = "/v2/health/ready"
# The HTTP client `docker exec` runs in the served container (python3 -I: the standard library only).
# argv: method, url, timeout, body in pieces; prints the status line, then the body. Exit 3: nothing answered.
EXEC_CLIENT = """
import sys, urllib.error, urllib.request
method, url, timeout, body = sys.argv[1], sys.argv[2], float(sys.argv[3]), "".join(sys.argv[4:]).encode()
request = urllib.request.Request(url, data=body or None, method=method, headers={"Content-Type": "application/json"})
try:
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=timeout) as answer:
        status, raw = answer.status, answer.read()
except urllib.error.HTTPError as err:
    status, raw = err.code, err.read()
except OSError as err:
    print(err, file=sys.stderr)
    sys.exit(3)
sys.stdout.buffer.write(b"%d\\n" % status + raw)
"""
ARG_PIECE = 100_000  # characters per argv entry (Linux allows 128 KiB per entry)


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


def engine_on_this_host(client: docker.DockerClient) -> bool:
    """A unix socket is an engine of this machine (or of its container); tcp:// and ssh:// may be anywhere."""
    return client.api.base_url == "http+docker://localhost"


def network_options(client: docker.DockerClient) -> dict[str, Any]:
    """How this process reaches the server: on a host (or a host-network container), a port published on
    127.0.0.1; in a container on a bridge network, where 127.0.0.1 is that container, by sharing its network
    namespace and serving on a free port of it. An engine elsewhere is reached through itself (EngineRoute):
    the container needs no network at all."""
    if not engine_on_this_host(client):
        return {"network_mode": "none"}
    tool = own_container(client)
    if tool is None or tool.attrs["HostConfig"].get("NetworkMode") == "host":
        return {"ports": {PORT: ("127.0.0.1", None)}}
    return {"network_mode": f"container:{tool.id}", "environment": {"PORT": str(free_port())}}


def server_port(container: Container) -> str:
    env = dict(item.partition("=")[::2] for item in container.attrs["Config"]["Env"] or [])
    return str(env.get("PORT", PORT.split("/")[0]))


def host_url(container: Container) -> str | None:
    if container.attrs["HostConfig"].get("NetworkMode", "").startswith("container:"):
        return f"http://127.0.0.1:{server_port(container)}"
    bindings = (container.attrs["NetworkSettings"].get("Ports") or {}).get(PORT)
    return f"http://127.0.0.1:{bindings[0]['HostPort']}" if bindings else None


class Route(Protocol):
    name: str

    def request(self, method: str, path: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
        """(status, decoded answer); raises OSError when nothing answers."""


class LoopbackRoute:
    """HTTP from this process to the server's port on 127.0.0.1."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = url

    def request(self, method: str, path: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
        return request_json(method, self.url + path, body, timeout)


class EngineRoute:
    """HTTP from inside the served container (docker exec): 127.0.0.1 there is the server's own, wherever the
    engine runs (DOCKER_HOST=tcp://other-host, a rootless engine, a job container of another network)."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.port = server_port(container)
        self.name = f"the engine (docker exec: 127.0.0.1:{self.port} inside the container)"

    def request(self, method: str, path: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
        text = "" if body is None else json.dumps(body)
        pieces = [text[start : start + ARG_PIECE] for start in range(0, len(text), ARG_PIECE)]
        command = [
            "python3",
            "-I",
            "-c",
            EXEC_CLIENT,
            method,
            f"http://127.0.0.1:{self.port}{path}",
            str(timeout),
            *pieces,
        ]
        try:
            done = self.container.exec_run(command, demux=True)
            code, (out, err) = done.exit_code, cast("tuple[bytes | None, bytes | None]", done.output)
        except docker.errors.APIError as exc:
            raise OSError(f"docker exec failed: {exc.explanation or exc}") from exc
        if code != 0:
            raise OSError((err or out or b"").decode(errors="replace").strip() or f"docker exec exited with {code}")
        status, _, raw = (out or b"").partition(b"\n")
        return int(status), decode(raw)


def accepts(url: str) -> bool:
    """Whether this process can connect to the port: the engine's proxy accepts a published port at once,
    before the server listens; refused means the port is published in another network namespace."""
    host, _, port = url.removeprefix("http://").partition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            return True
    except OSError:
        return False


def first_route(container: Container) -> Route:
    """The loopback when it reaches the container's port, else the engine (which reaches it from anywhere)."""
    container.reload()
    mode = container.attrs["HostConfig"].get("NetworkMode", "")
    url = None if mode == "none" else host_url(container)
    if url and (mode.startswith("container:") or accepts(url)):
        return LoopbackRoute(url)
    return EngineRoute(container)


def is_ready(route: Route) -> bool:
    try:
        return route.request("GET", READY_PATH, timeout=2)[0] == 200
    except OSError:
        return False  # not listening yet (or not reachable this way)


def wait_ready(container: Container, route: Route, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        if container.status in ("exited", "dead"):
            raise ContainerCheckError(
                with_log("the container exited before it was ready", container),
                "check that base-image has python3 3.11 and that the model loads in onnxruntime on linux",
            )
        if is_ready(route):
            return
        time.sleep(0.2)
    raise ContainerCheckError(
        with_log(f"the container was not ready after {timeout:.0f} s (asked through {route.name})", container),
        "raise check-timeout for large models, or read the container log above",
    )


def start_fix(explanation: str) -> str:
    if "executable file not found" in explanation:
        return "use a base-image with python3 3.11 on its PATH (e.g. python:3.11-slim)"
    return "check that base-image runs on this engine's platform"


def start_container(client: docker.DockerClient, image_id: str) -> Container:
    """Create and start the image read-only; one that cannot start is removed, not left on the runner."""
    container: Container | None = None
    try:
        container = client.containers.create(
            image_id,
            read_only=True,
            tmpfs={"/tmp": "size=64m"},
            labels={"io.github.onnx-package.check": "1"},
            **network_options(client),
        )
        container.start()
    except docker.errors.APIError as err:
        if container is not None:
            container.remove(force=True)
        explanation = str(err.explanation or err)
        raise ContainerCheckError(f"the image did not start: {explanation}", start_fix(explanation)) from err
    return container


def ask(container: Container, route: Route, probe: Probe) -> tuple[int, Any]:
    try:
        return route.request("POST", probe.path, probe.body)
    except OSError as err:
        cause = with_log(f"could not reach the container through {route.name} after it was ready ({err})", container)
        raise ContainerCheckError(cause, "read the container log: the server stopped answering the sample") from err


# A large golden set is answered in full on the runner; the container gets its first this many requests.
CONTAINER_SAMPLES = 100


def start_ready(client: docker.DockerClient, image_id: str, timeout: float) -> tuple[Container, Route, float]:
    """Start the image read-only and wait until it is ready: (the container, the route to it, seconds to ready).
    One that never gets ready is removed; the caller removes the others."""
    container = start_container(client, image_id)
    started = time.monotonic()
    try:
        route = first_route(container)
        wait_ready(container, route, timeout)
    except BaseException:
        container.remove(force=True)
        raise
    return container, route, time.monotonic() - started


def check_container(
    client: docker.DockerClient, settings: Settings, image_id: str, probes: list[Probe], reporter: Reporter
) -> float:
    """Start the image read-only, wait for ready, compare its answers; return seconds to ready."""
    container, route, ready_seconds = start_ready(client, image_id, settings.check_timeout)
    try:
        sent = probes[:CONTAINER_SAMPLES]
        reporter.info(
            f"    ready in {ready_seconds:.1f} s through {route.name}; POST {sent[0].path} "
            f"{short(sent[0].body)}" + (f" and {len(sent) - 1} more samples" if len(sent) > 1 else "")
        )
        for probe in sent:
            compare_answer(container, route, probe)
        reporter.info(f"    {len(sent)} of {len(probes)} answers match the runner's")
        return ready_seconds
    finally:
        container.remove(force=True)


def compare_answer(container: Container, route: Route, probe: Probe) -> None:
    status, answer = ask(container, route, probe)
    if status != 200 or not same_answer(answer, probe.answer):
        raise ContainerCheckError(
            f"the container answered {status} {short(answer)} to {short(probe.body, 60)} "
            f"where the runner answered {short(probe.answer)}",
            "the image differs from the runner: check base-image's CPU platform and the container log",
        )
