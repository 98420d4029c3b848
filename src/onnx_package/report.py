"""How the pipeline tells the user what it is doing: plain lines, stage by stage, with times.

Each CI system's reporter (ci/github.py, ci/azure_devops.py, ci/gitlab.py; chosen in ci/reporters.py) subclasses
Reporter for its groups, masks, annotations, outputs and summary; stages only call it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from .ci.secret_values import values_to_mask
from .outputs import write_outputs

if TYPE_CHECKING:
    from .settings import Settings


def short(value: Any, limit: int = 120) -> str:
    """A JSON value (a request, an answer) cut to `limit` characters for a log line or a message."""
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Reporter:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.stage_seconds: dict[str, float] = {}

    def info(self, message: str) -> None:
        print(message, file=self.stream, flush=True)

    def warn(self, message: str) -> None:
        """Something the user should know though the run goes on (a fallback was taken)."""
        self.info(f"warning: {message}")

    def start(self, settings: Settings) -> None:
        """Called once the inputs are parsed, before anything is printed about them: masks the secret inputs."""
        for raw in settings.secrets():
            for value in values_to_mask(raw):
                self.mask(value)

    def mask(self, value: str) -> None:
        """Hide a secret learned during the run (a token) from the log; plain output never prints one."""

    def open_stage(self, name: str) -> None:
        self.info(f"==> {name}")

    def close_stage(self, name: str, seconds: float) -> None:
        self.info(f"    {name}: {seconds:.1f} s")

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.open_stage(name)
        start = time.monotonic()
        try:
            yield
        finally:
            self.stage_seconds[name] = time.monotonic() - start
            self.close_stage(name, self.stage_seconds[name])

    def fail(self, title: str, message: str) -> None:
        self.info(f"error: {title}: {message}")

    def write_outputs(self, values: Mapping[str, str], environ: Mapping[str, str]) -> None:
        """The outputs: to $GITHUB_OUTPUT when it is set, else `name=value` lines on standard output."""
        write_outputs(values, environ)

    def finish(self, result: Any, outputs: Mapping[str, str]) -> None:
        if outputs.get("digest"):
            self.info(f"done: {outputs['digest']}")
