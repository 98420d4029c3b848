"""Run the onnx-package CLI the way a user does, and read back what it produced."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx


@dataclass
class Run:
    code: int
    stderr: str
    outputs: dict[str, str]


def parse_github_output(text: str) -> dict[str, str]:
    """name<<DELIM / value / DELIM blocks, as GitHub reads them."""
    values, lines = {}, iter(text.splitlines())
    for line in lines:
        name, _, delimiter = line.partition("<<")
        value = []
        for inner in lines:
            if inner == delimiter:
                break
            value.append(inner)
        values[name] = "\n".join(value)
    return values


def run_cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 900) -> Run:
    output = tmp_path / "github_output"
    output.write_text("")
    environ = {**os.environ, "GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(tmp_path), **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "onnx_package.cli", *args],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(done.returncode, done.stderr, parse_github_output(output.read_text()))


def flags(**inputs: object) -> list[str]:
    """The CLI flags of action inputs given as keywords: base_image="x" -> ["--base-image", "x"]."""
    return [part for name, value in inputs.items() for part in (f"--{name.replace('_', '-')}", str(value))]


def package_local(
    tmp_path: Path,
    model: Path | str,
    *extra: str,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    **inputs: object,
) -> Run:
    """run_cli on a model folder or .onnx file of the runner's: `inputs` as in `flags`, then `extra` (a
    flag given again there overrides)."""
    return run_cli(tmp_path, *flags(model_source="local", model_path=model, **inputs), *extra, env=env, timeout=timeout)


def serve(
    client: docker.DockerClient, image: str, environment: dict[str, str] | None = None, also: tuple[str, ...] = ()
) -> tuple[Any, str]:
    """Start `image` on a free loopback port (and the ports `also` names); wait until ready.
    Returns (container, base url)."""
    ports = {port: ("127.0.0.1", None) for port in ("8080/tcp", *also)}
    container = client.containers.run(image, detach=True, read_only=True, ports=ports, environment=environment or {})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        container.reload()
        ports = container.attrs["NetworkSettings"]["Ports"].get("8080/tcp")
        if container.status == "exited":
            raise AssertionError(container.logs().decode())
        if ports:
            url = f"http://127.0.0.1:{ports[0]['HostPort']}"
            try:
                if httpx.get(url + "/v2/health/ready", timeout=2).status_code == 200:
                    return container, url
            except httpx.TransportError:
                pass
        time.sleep(0.2)
    container.remove(force=True)
    raise AssertionError(f"{image} was not ready in 60 s")


TEST_LABEL = "org.onnx-package.test"  # tests/support/testbed.py's: docker_cleanup removes what carries it


def base_with_python3(client: docker.DockerClient, base_image: str, folder: Path, tag: str, script: str) -> str:
    """`base_image` with /usr/local/bin/python3 replaced by a shell `script` (which may call /usr/bin/python3)."""
    folder.mkdir(parents=True)
    (folder / "python3").write_text(script)
    (folder / "python3").chmod(0o755)
    (folder / "Dockerfile").write_text(
        f"FROM {base_image}\nCOPY python3 /usr/local/bin/python3\nLABEL {TEST_LABEL}=1\n"
    )
    client.images.build(path=str(folder), tag=tag, rm=True, pull=False)
    return tag
