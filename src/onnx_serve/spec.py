"""`serve.json`: what the packager learned about the model, read once at start.

    spec = read_spec(model_dir)     # ServeSpec(name, version, task, labels, max_length, ...)

The packager writes the file (see docs/ARCHITECTURE.md); `ServeSpec.to_json()` gives the same shape.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SPEC_FILE = "serve.json"
TASKS = ("text-classification", "tabular", "tensor")


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
    max_length: int = 512
    schema: int = 1

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels) if self.labels is not None else None
        return data


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
    return ServeSpec(
        name=str(data.get("name") or "model"),
        version=str(data.get("version") or "1"),
        task=task,
        model_file=str(data.get("model_file") or "model.onnx"),
        sha256=str(data.get("sha256") or ""),
        labels=tuple(str(label) for label in labels) if labels else None,
        max_length=int(data.get("max_length") or 512),
        schema=int(data.get("schema") or 1),
    )
