"""Assemble the serving image from the base and three layers, and load it into the engine.

No Dockerfile and no build container, the way ko and jib build images: the config is written here from
the base's own, the layers are reproducible tars (layers.py), and every time in them is fixed. So the
same base digest, locks, code and model give the same image id on any runner, and `docker load` (docker
SDK) must report exactly that id.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import docker

from ..errors import BuildError
from ..settings import Settings
from .base_image import BaseImage
from .context import IMAGE_ROOT, Context
from .engine import stream_error
from .layers import ChunkReader, Layer, docker_archive, measure_layer
from .metadata import LABEL_PREFIX

ENV = {
    "PYTHONPATH": f"{IMAGE_ROOT}/deps:{IMAGE_ROOT}/app",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
    "ORT_DISABLE_TELEMETRY": "1",
    "ONNX_SERVE_MODEL_DIR": f"{IMAGE_ROOT}/model",
    "PORT": "8080",
}
SECOND = 1_000_000_000  # the engine counts healthcheck times in nanoseconds
PORTS: dict[str, dict[str, Any]] = {"8080/tcp": {}}
GRPC_PORT = "8081"  # the Open Inference Protocol's gRPC port by convention (Triton, KServe), with `grpc: true`
RUN: dict[str, Any] = {
    "User": "10001:10001",
    "Entrypoint": ["python3", "-m", "onnx_serve"],
    "Cmd": None,  # an entrypoint of its own drops the base's command, as in a Dockerfile
    "Healthcheck": {
        "Test": ["CMD", "python3", "-m", "onnx_serve.healthcheck"],
        "Interval": 10 * SECOND,
        "Timeout": 3 * SECOND,
        "StartPeriod": 60 * SECOND,
        "Retries": 3,
    },
}


def timestamp(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_labels(settings: Settings, spec: dict[str, Any], base: BaseImage, given: dict[str, str]) -> dict[str, str]:
    """The tool's OCI labels, the user's over them (e.g. docker/metadata-action's), then the model's own."""
    labels = {
        "org.opencontainers.image.title": str(spec["name"]),
        "org.opencontainers.image.version": str(spec["version"]),
        "org.opencontainers.image.created": timestamp(settings.source_date_epoch),
        "org.opencontainers.image.source": settings.source_url,
        "org.opencontainers.image.revision": settings.revision,
        **base.labels(),
        **given,
        f"{LABEL_PREFIX}.model.name": str(spec["name"]),
        f"{LABEL_PREFIX}.model.version": str(spec["version"]),
        f"{LABEL_PREFIX}.model.sha256": str(spec["sha256"]),
        f"{LABEL_PREFIX}.model.served-sha256": str(spec.get("served_sha256") or ""),  # after optimize/quantize
        f"{LABEL_PREFIX}.model.task": str(spec["task"]),
    }
    return {key: value for key, value in labels.items() if value}


def base_config(client: docker.DockerClient, image_id: str) -> dict[str, Any]:
    """The base image's own config, exactly as the engine keeps it (from `docker save`'s stream)."""
    with tarfile.open(fileobj=ChunkReader(client.api.get_image(image_id)), mode="r|") as saved:
        for entry in saved:
            if entry.name.endswith(".json") and "/" not in entry.name and entry.name != "manifest.json":
                content = saved.extractfile(entry)
                if content is not None:
                    return dict(json.loads(content.read()))
    raise BuildError(f"the engine's copy of the base image {image_id} has no config", "pull the base image again")


def image_config(
    base: dict[str, Any], layers: list[Layer], labels: dict[str, str], created: int, grpc: bool = False
) -> bytes:
    """The base's config with the server's environment, user, entrypoint, healthcheck, labels and layers."""
    run = dict(base.get("config") or {})
    own_env = {**ENV, "ONNX_SERVE_GRPC_PORT": GRPC_PORT} if grpc else ENV
    ports = {**PORTS, f"{GRPC_PORT}/tcp": {}} if grpc else PORTS
    env = [item for item in run.get("Env") or [] if item.split("=", 1)[0] not in own_env]
    run.update(
        RUN,
        Env=env + [f"{key}={value}" for key, value in own_env.items()],
        ExposedPorts={**(run.get("ExposedPorts") or {}), **ports},
        Labels={**(run.get("Labels") or {}), **labels},
    )
    when = timestamp(created)
    config = {
        "architecture": base["architecture"],
        "os": base["os"],
        "created": when,
        "config": run,
        "rootfs": {"type": "layers", "diff_ids": [*base["rootfs"]["diff_ids"], *(layer.diff_id for layer in layers)]},
        "history": [
            *(base.get("history") or []),
            *({"created": when, "created_by": layer.created_by} for layer in layers),
        ],
    }
    if base.get("variant"):
        config["variant"] = base["variant"]
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def measure_layers(context: Context) -> list[Layer]:
    """deps, app, model: least to most often changed, so a new model version changes only the last."""
    return [
        measure_layer(source, f"{IMAGE_ROOT}/{name}", f"COPY {name}/ {IMAGE_ROOT}/{name}/")
        for name, source in (("deps", context.deps), ("app", context.app), ("model", context.model))
    ]


def load(client: docker.DockerClient, config: bytes, base_layers: int, layers: list[Layer], tag: str) -> str:
    image_id = f"sha256:{hashlib.sha256(config).hexdigest()}"
    try:
        answer = client.api.load_image(docker_archive(config, base_layers, layers, tag))
        failures = [message for chunk in answer if (message := stream_error(chunk))]
        loaded = client.images.get(tag).id
    except docker.errors.APIError as err:
        failures, loaded = [str(err.explanation or err)], ""
    if failures:
        raise BuildError(
            f"the engine refused the assembled image: {failures[0]}",
            "check that the base image is still in the engine (docker image ls) and rerun",
        )
    if loaded != image_id:
        raise BuildError(
            f"the engine loaded {loaded} for {tag}, not the assembled {image_id}",
            "report this with the engine's version (docker version)",
        )
    return image_id


@dataclass(frozen=True)
class Assembled:
    """An image as written here: its config and the tool's layers over the base's."""

    config: bytes
    base_layers: int
    layers: list[Layer]


def assemble(
    client: docker.DockerClient,
    base_image_id: str,
    context: Context,
    labels: dict[str, str],
    created: int,
    grpc: bool = False,
) -> Assembled:
    base = base_config(client, base_image_id)
    layers = measure_layers(context)
    return Assembled(image_config(base, layers, labels, created, grpc), len(base["rootfs"]["diff_ids"]), layers)


def build_image(
    client: docker.DockerClient,
    base_image_id: str,
    context: Context,
    tag: str,
    labels: dict[str, str],
    created: int,
    grpc: bool = False,
) -> str:
    """Assemble, load and return the image id (the sha256 of the config written here)."""
    image = assemble(client, base_image_id, context, labels, created, grpc)
    return load(client, image.config, image.base_layers, image.layers, tag)
