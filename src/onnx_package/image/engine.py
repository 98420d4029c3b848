"""The Docker engine: the connection, made once per run, and the errors in its streamed answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import docker
from docker.errors import DockerException
from docker.models.containers import Container
from docker.models.images import Image

from ..errors import BuildError
from ..settings import Settings


def connect(settings: Settings) -> docker.DockerClient:
    try:
        client = docker.from_env(environment=dict(settings.environ), timeout=300)
        client.ping()
    except DockerException as err:
        raise BuildError(
            f"cannot reach the Docker engine ({err})",
            "start Docker on the runner, or set DOCKER_HOST to a running engine",
        ) from err
    return client


def engine_id(model: Image | Container) -> str:
    """The engine's id of an image or container it holds (the SDK's `.id` is typed as optional)."""
    return str(model.attrs["Id"])


def stream_error(chunk: Mapping[str, Any]) -> str:
    """The error in one chunk of the engine's streamed answer (build, load, pull, push); '' when none."""
    if "error" not in chunk and "errorDetail" not in chunk:
        return ""
    return str((chunk.get("errorDetail") or {}).get("message") or chunk.get("error") or "unknown error").strip()
