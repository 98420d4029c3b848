"""The Docker engine: the connection, made once per run, and the errors in its streamed answers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import docker
from docker.errors import DockerException
from docker.models.containers import Container
from docker.models.images import Image

from .. import retry
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


def pull(
    client: docker.DockerClient,
    name: str,
    tag: str,
    auth_config: dict[str, str] | None,
    policy: retry.Policy,
    on_retry: Callable[[retry.Retry, float, int], None],
    failure: Callable[[str], Exception],
) -> None:
    """Pull name:tag (a tag or a digest) through the engine, retried as `policy` says (raising retry.GaveUp
    when it runs out); `failure` turns the engine's message into the error: a retry.Retry when transient."""

    def attempt() -> None:
        try:
            for chunk in client.api.pull(name, tag=tag, stream=True, decode=True, auth_config=auth_config):
                if message := stream_error(chunk):
                    raise failure(message)
        except docker.errors.APIError as err:
            raise failure(str(err.explanation or err)) from err

    retry.call(attempt, policy, on_retry=on_retry)
