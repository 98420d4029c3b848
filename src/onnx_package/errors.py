"""One base exception for every failure the user can act on.

Each error carries what failed (with the bad value) and the fix. They are turned
into an annotation, a log line and an exit code in exactly one place: `cli.main`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self


def first_line(text: str, limit: int | None = None, default: str = "") -> str:
    """The first non-blank line of a message, stripped (some messages list every file they touched); cut to
    `limit` characters, the last one an ellipsis, when given; `default` when there is no such line."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), default)
    return line if limit is None or len(line) <= limit else line[: limit - 1] + "…"


def last_line(text: str, default: str = "no output") -> str:
    """The last line of a tool's output (a failing command says why at the end); `default` when it said nothing."""
    return (text.strip().splitlines() or [default])[-1]


class PackageError(Exception):
    """A failure with a one-line cause and a fix; never shown as a traceback."""

    title = "onnx-package failed"

    def __init__(self, cause: str, fix: str, outputs: Mapping[str, str] | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.fix = fix
        # what still holds despite the failure (e.g. registries that got the image); cli.py writes them
        self.outputs: dict[str, str] = dict(outputs or {})

    def with_outputs(self, outputs: Mapping[str, str]) -> Self:
        """The same failure, as a new exception (with this one's traceback) that carries `outputs`."""
        return type(self)(self.cause, self.fix, outputs).with_traceback(self.__traceback__)

    def __str__(self) -> str:
        return f"{self.cause}. Fix: {self.fix}"


class SettingsError(PackageError):
    title = "Invalid input"


class ModelSourceError(PackageError):
    title = "Model download failed"


class ModelError(PackageError):
    title = "Model cannot be served"


class SmokeTestError(PackageError):
    title = "Smoke test failed"


class QualityGateError(PackageError):
    title = "Quality gate failed"


class ReleaseGateError(PackageError):
    title = "Release gate failed"


class BuildError(PackageError):
    title = "Image build failed"


class DiskFullError(PackageError):
    title = "Disk full"


class ContainerCheckError(PackageError):
    title = "Container check failed"


class PushError(PackageError):
    title = "Push failed"

    def __init__(
        self, cause: str, fix: str, pushed: list[Any] | None = None, outputs: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(cause, fix, outputs)
        self.pushed = pushed or []  # push.Pushed of the repositories that do hold the image

    def with_outputs(self, outputs: Mapping[str, str]) -> Self:
        return type(self)(self.cause, self.fix, self.pushed, outputs).with_traceback(self.__traceback__)
