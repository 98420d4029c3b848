"""The action's outputs: computed from the run's result, written to $GITHUB_OUTPUT or stdout."""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .registry.refs import Pushed


@dataclass(frozen=True)
class Output:
    name: str
    description: str


OUTPUTS: tuple[Output, ...] = (
    Output("digest", "The image digest, when every registry serves the same one (deploy by digest)."),
    Output("digests", "JSON object: each pushed image reference -> the digest its registry serves."),
    Output(
        "platform-digests",
        "JSON object: each platform (linux/amd64, ...) -> its image manifest's digest; with "
        "several platforms, digest is the index over them.",
    ),
    Output("images", "One repo@digest per line, for every repository pushed to."),
    Output("image-id", "The local image id that was built and checked."),
    Output("model-name", "The model's name."),
    Output("model-version", "The model version packaged (latest resolved to a number)."),
    Output("model-sha256", "sha256 of the model's .onnx file."),
    Output(
        "diff",
        "JSON: the new image against the previous one on the golden set (changed answers, p50/p95, time "
        "to ready, memory, size); empty when there was no previous image.",
    ),
    Output("sbom", "Path of the image's ML-BOM (CycloneDX 1.6 JSON), also attached to the image in each registry."),
)


def variable_name(output: str) -> str:
    """An output as a variable name for CI systems without GitHub's kebab-case (image-id -> IMAGE_ID)."""
    return output.upper().replace("-", "_")


def output_values(
    pushed: list[Pushed],
    image_id: str,
    spec: Mapping[str, object],
    sbom: Path | None = None,
    platform_digests: Mapping[str, str] | None = None,
    diff: str = "",
) -> dict[str, str]:
    digests = {p.ref: p.digest for p in pushed}
    by_repo = {p.repository.name: p.digest for p in pushed}
    distinct = set(digests.values())
    return {
        "digest": distinct.pop() if len(distinct) == 1 else "",
        "digests": json.dumps(digests, sort_keys=True),
        "platform-digests": json.dumps(dict(platform_digests or {})),
        "images": "\n".join(f"{repo}@{digest}" for repo, digest in by_repo.items()),
        "image-id": image_id,
        "model-name": str(spec["name"]),
        "model-version": str(spec["version"]),
        "model-sha256": str(spec["sha256"]),
        "diff": diff,
        "sbom": str(sbom or ""),
    }


def write_outputs(values: Mapping[str, str], environ: Mapping[str, str], stdout: TextIO | None = None) -> None:
    """Multi-line safe: every value goes in a heredoc with a random delimiter."""
    target = environ.get("GITHUB_OUTPUT")
    if not target:
        for name, value in values.items():
            print(f"{name}={value}", file=stdout or sys.stdout)
        return
    with Path(target).open("a", encoding="utf-8") as stream:
        for name, value in values.items():
            delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
            stream.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
