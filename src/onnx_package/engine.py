"""The Docker engine connection, made once per run."""

from __future__ import annotations

import docker
from docker.errors import DockerException

from .errors import BuildError
from .settings import Settings


def connect(settings: Settings) -> docker.DockerClient:
    try:
        client = docker.from_env(environment=dict(settings.environ), timeout=300)
        client.ping()
    except DockerException as err:
        raise BuildError(f"cannot reach the Docker engine ({err})",
                         "start Docker on the runner, or set DOCKER_HOST to a running engine") from err
    return client

