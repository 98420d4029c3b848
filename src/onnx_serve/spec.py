"""`serve.json`: what the packager learned about the model, read once at start.

    spec = read_spec(model_dir)     # ServeSpec(name, version, task, labels, max_length, ...)
    spec.write(model_dir)           # the packager's writer: the one definition of the file's shape

`to_json()` is the file's content in its key order (docs/ARCHITECTURE.md); the packager writes serve.json
only through `write`, so the image reads exactly what the packager wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPEC_FILE = "serve.json"
TEXT_TASK = "text-classification"
TASKS = (TEXT_TASK, "tabular", "tensor")


class ModelError(Exception):
    """The model folder cannot be served: serve.json, the .onnx file or the tokenizer is wrong."""


@dataclass(frozen=True)
class ServeSpec:
    name: str
    version: str
    task: str
    model_file: str = "model.onnx"
    sha256: str = ""
    labels: tuple[str, ...] | None = None
    max_length: int = 512  # text models only: written as null for the others, read back as 512
    schema: int = 1
    served_sha256: str | None = None  # the file served after optimize/quantize; absent until it is recorded

    def to_json(self) -> dict[str, Any]:
        """serve.json's content, keys in the file's order."""
        data: dict[str, Any] = {
            "schema": self.schema,
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "model_file": self.model_file,
            "task": self.task,
            "labels": list(self.labels) if self.labels is not None else None,
            "max_length": self.max_length if self.task == TEXT_TASK else None,
        }
        if self.served_sha256 is not None:
            data["served_sha256"] = self.served_sha256
        return data

    def write(self, model_dir: Path) -> Path:
        """Write serve.json into the model folder as a new file (the name may be a hard link to a user's file)."""
        path = model_dir / SPEC_FILE
        path.unlink(missing_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        return path


def read_spec(model_dir: Path) -> ServeSpec:
    path = model_dir / SPEC_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read {path}: {e}") from e
    return parse_spec(data, path)


def parse_spec(data: Any, where: Path | str = SPEC_FILE) -> ServeSpec:
    if not isinstance(data, dict):
        raise ModelError(f"{where} must hold a JSON object, got {type(data).__name__}")
    task = data.get("task")
    if task not in TASKS:
        raise ModelError(f"{where}: task must be one of {', '.join(TASKS)}, got {task!r}")
    labels = data.get("labels")
    served_sha256 = data.get("served_sha256")
    return ServeSpec(
        name=str(data.get("name") or "model"),
        version=str(data.get("version") or "1"),
        task=task,
        model_file=str(data.get("model_file") or "model.onnx"),
        sha256=str(data.get("sha256") or ""),
        labels=tuple(str(label) for label in labels) if labels else None,
        max_length=int(data.get("max_length") or 512),
        schema=int(data.get("schema") or 1),
        served_sha256=str(served_sha256) if served_sha256 else None,
    )
