"""Build the serving image with the docker SDK, reading every stream chunk for errors."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import docker

from .errors import BuildError
from .settings import Settings

LABEL_PREFIX = "io.github.onnx-package"
# What the engine says when it cannot pull the FROM image.
PULL_FAILURES = ("pull access denied", "manifest unknown", "repository does not exist", "dial tcp", "no such host")


def image_labels(settings: Settings, spec: dict[str, Any]) -> dict[str, str]:
    labels = {
        "org.opencontainers.image.title": str(spec["name"]),
        "org.opencontainers.image.version": str(spec["version"]),
        "org.opencontainers.image.created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "org.opencontainers.image.source": settings.source_url,
        "org.opencontainers.image.revision": settings.revision,
        "org.opencontainers.image.base.name": settings.base_image,
        f"{LABEL_PREFIX}.model.name": str(spec["name"]),
        f"{LABEL_PREFIX}.model.version": str(spec["version"]),
        f"{LABEL_PREFIX}.model.sha256": str(spec["sha256"]),
        f"{LABEL_PREFIX}.model.task": str(spec["task"]),
    }
    return {key: value for key, value in labels.items() if value}


def build_error(message: str, base_image: str, log: list[str]) -> BuildError:
    tail = " | ".join(line for line in log[-3:] if line)
    if any(hint in message for hint in PULL_FAILURES):
        return BuildError(f"the base image {base_image!r} is not available to the engine ({message})",
                          "pull or build the base image on the runner first, or set base-image to one the "
                          "engine can pull")
    return BuildError(f"docker build failed: {message}" + (f" (last output: {tail})" if tail else ""),
                      "read the build output above; check base-image is a Debian-like image with python3")


def build_image(client: docker.DockerClient, settings: Settings, context: Path, tag: str,
                labels: dict[str, str], cache_from: list[str]) -> str:
    """Build and return the image id."""
    log: list[str] = []
    image_id = ""
    try:
        stream = client.api.build(path=str(context), tag=tag, buildargs={"BASE_IMAGE": settings.base_image},
                                  labels=labels, cache_from=cache_from or None, rm=True, forcerm=True,
                                  pull=False, decode=True)
        for chunk in stream:
            if "error" in chunk or "errorDetail" in chunk:
                message = chunk.get("errorDetail", {}).get("message") or chunk.get("error", "")
                raise build_error(str(message).strip(), settings.base_image, log)
            if "stream" in chunk:
                log.extend(chunk["stream"].rstrip().splitlines())
            image_id = chunk.get("aux", {}).get("ID", image_id)
    except docker.errors.APIError as err:
        raise build_error(str(err.explanation or err), settings.base_image, log) from err
    if not image_id:
        raise BuildError("docker build finished without an image id", "read the build output above")
    return image_id
