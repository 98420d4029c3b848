"""The golden set: a JSON Lines file of requests, read before any work so a bad line stops the run early.

One request per line, in the model's own /predict shape (a v2 infer body for raw-tensor models):

    ["Containers are good"]
    {"request": ["Containers are terrible"], "expected": {"positive": false}}
    {"data": [[14.23, 1.71, 2.43, 15.6, 127, 2.8, 3.06, 0.28, 2.29, 5.64, 1.04, 3.92, 1065]]}

A line that is an object with a "request" key is that request, with an optional "expected" answer;
any other line is the request itself. Blank lines are skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SettingsError
from ..settings import Settings

FIX = (
    'write one JSON request per line, e.g. ["some text"] or {"request": ["some text"], "expected": {"positive": true}}'
)


@dataclass(frozen=True)
class Sample:
    line: int  # 1-based line in the samples file; 0 for the sample input
    body: Any  # None: the default sample (smoke.default_sample)
    expected: Any = None

    @property
    def where(self) -> str:
        return f"samples line {self.line}" if self.line else "sample"


def samples_path(settings: Settings) -> Path:
    """Relative paths are relative to the workspace (the checkout on a CI runner)."""
    path = Path(settings.samples)
    workspace = settings.environ.get("GITHUB_WORKSPACE") or settings.environ.get("CI_PROJECT_DIR")
    return path if path.is_absolute() or not workspace else Path(workspace) / path


def parse_line(number: int, text: str) -> Sample:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise SettingsError(
            f"samples line {number} is not JSON ({err.msg} at column {err.colno}): {text[:60]!r}", FIX
        ) from err
    if isinstance(value, dict) and "request" in value:
        extra = sorted(set(value) - {"request", "expected"})
        if extra:
            raise SettingsError(f"samples line {number} has keys {extra} beside request", FIX)
        return Sample(number, value["request"], value.get("expected"))
    return Sample(number, value)


def load_samples(settings: Settings) -> list[Sample]:
    """The sample input (if any; expected alone is for the default sample) first, then the samples file's lines."""
    one = settings.sample is not None or settings.expected is not None
    given = [Sample(0, settings.sample, settings.expected)] if one else []
    if not settings.samples:
        return given
    path = samples_path(settings)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SettingsError(
            f"samples file {path} cannot be read ({err.__class__.__name__})",
            "give samples as a path to a UTF-8 JSON Lines file, relative to the workspace",
        ) from err
    lines = [parse_line(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise SettingsError(f"samples file {path} holds no requests", FIX)
    return given + lines
