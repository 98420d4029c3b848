"""OCI labels and annotations given by the user, as docker/metadata-action writes them, checked before any work.

Labels go into the image config; annotations into the image manifest. Both are merged over the tool's own,
except the keys that record the model (`io.github.onnx-package.model.*`), which always tell the truth.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import SettingsError

LABEL_PREFIX = "io.github.onnx-package"
OWN_PREFIX = f"{LABEL_PREFIX}.model."
# buildx's annotation levels (`index:`, `manifest[linux/amd64]:`, ...): one image has a manifest and no index.
LEVELS = ("manifest", "index", "manifest-descriptor", "index-descriptor")
ANNOTATION = re.compile(r"^(?:(?P<level>[a-z-]+)(?:\[[^\]]*\])?:)?(?P<key>[^=\s][^=]*)=(?P<value>.*)$")


@dataclass(frozen=True)
class Annotations:
    manifest: dict[str, str]
    skipped: tuple[str, ...]  # keys given for a level this image does not have (an index, descriptors)


def check_key(input_name: str, key: str) -> str:
    key = key.strip()
    if key.startswith(OWN_PREFIX):
        raise SettingsError(
            f"{input_name} sets {key}, which records the packaged model",
            f"remove it: the tool writes every {OWN_PREFIX}* key from the model itself",
        )
    return key


def parse_labels(lines: Iterable[str]) -> dict[str, str]:
    """`key=value` per line, as docker/metadata-action's labels output."""
    labels: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            hint = " (class labels are an input of their own now: class-labels)" if "=" not in line else ""
            raise SettingsError(
                f"labels line {number} ({line[:60]!r}) is not key=value{hint}",
                "write one OCI label per line, e.g. org.opencontainers.image.description=Sentiment of short texts",
            )
        labels[check_key("labels", key)] = value.strip()
    return labels


def parse_annotations(lines: Iterable[str]) -> Annotations:
    """`[level:]key=value` per line, as docker/metadata-action's annotations output (`manifest:` by default)."""
    manifest: dict[str, str] = {}
    skipped: list[str] = []
    for number, line in enumerate(lines, 1):
        match = ANNOTATION.match(line)
        level = (match.group("level") if match else None) or "manifest"
        if not match or level not in LEVELS:
            raise SettingsError(
                f"annotations line {number} ({line[:60]!r}) is not [level:]key=value",
                "write one annotation per line, e.g. org.opencontainers.image.description=..., "
                f"with an optional level: {', '.join(LEVELS)}",
            )
        key = check_key("annotations", match.group("key"))
        if level == "manifest":
            manifest[key] = match.group("value").strip()
        else:
            skipped.append(f"{level}:{key}")
    return Annotations(manifest, tuple(skipped))


def manifest_annotations(config_labels: dict[str, str], given: Annotations) -> dict[str, str]:
    """When annotations are asked for: the image's OCI labels as annotations (registries such as GHCR read the
    manifest's), the user's over them. None asked for: {} and the manifest stays as the engine pushed it."""
    if not given.manifest:
        return {}
    own = {key: value for key, value in config_labels.items() if key.startswith("org.opencontainers.image.")}
    return {**own, **given.manifest}
