"""One base exception for every failure the user can act on.

Each error carries what failed (with the bad value) and the fix. They are turned
into an annotation, a log line and an exit code in exactly one place: `cli.main`.
"""

from __future__ import annotations

from typing import Any


class PackageError(Exception):
    """A failure with a one-line cause and a fix; never shown as a traceback."""

    title = "onnx-package failed"

    def __init__(self, cause: str, fix: str) -> None:
        super().__init__(cause)
        self.cause = cause
        self.fix = fix
        self.outputs: dict[str, str] = {}  # what still holds despite the failure (e.g. registries that got the image)

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

    def __init__(self, cause: str, fix: str, pushed: list[Any] | None = None) -> None:
        super().__init__(cause, fix)
        self.pushed = pushed or []  # push.Pushed of the repositories that do hold the image
