"""GitHub runner integration: ::group:: per stage, ::add-mask:: for secrets, ::error:: annotations,
and a step summary. Only the edge (entrypoint.py) uses it."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from ..report import Reporter
from .secret_values import values_to_mask
from .summary import summary_failure, summary_success

__all__ = ["GitHubReporter", "escape_data", "escape_property", "summary_success", "values_to_mask"]


# Workflow-command escaping: a message's %, CR and LF; a property's also ':' and ','.
DATA = str.maketrans({"%": "%25", "\r": "%0D", "\n": "%0A"})
PROPERTY = {**DATA, **str.maketrans({":": "%3A", ",": "%2C"})}


def escape_data(text: str) -> str:
    return text.translate(DATA)


def escape_property(text: str) -> str:
    return text.translate(PROPERTY)


class GitHubReporter(Reporter):
    def __init__(self, environ: Mapping[str, str], stream: TextIO | None = None) -> None:
        super().__init__(stream or sys.stdout)
        self.environ = environ
        self.masked: set[str] = set()

    def command(self, line: str) -> None:
        """A workflow command of our own (not passed through info, which neutralises commands)."""
        print(line, file=self.stream, flush=True)

    def info(self, message: str) -> None:
        """Log text that may come from a model, a registry or a build: it must not run workflow commands."""
        if not any(line.lstrip().startswith("::") for line in message.splitlines()):
            self.command(message)
            return
        token = secrets.token_hex(16)
        self.command(f"::stop-commands::{token}")
        self.command(message)
        self.command(f"::{token}::")

    def warn(self, message: str) -> None:
        self.command(f"::warning::{escape_data(message)}")

    def mask(self, value: str) -> None:
        if value not in self.masked:  # a cached token comes back many times
            self.masked.add(value)
            self.command(f"::add-mask::{escape_data(value)}")

    def open_stage(self, name: str) -> None:
        self.command(f"::group::{escape_data(name)}")

    def close_stage(self, name: str, seconds: float) -> None:
        self.info(f"{name}: {seconds:.1f} s")
        self.command("::endgroup::")

    def fail(self, title: str, message: str) -> None:
        self.command(f"::error title={escape_property(title)}::{escape_data(message)}")
        self.write_summary(summary_failure(title, message, self.stage_seconds))

    def finish(self, result: Any, outputs: Mapping[str, str]) -> None:
        super().finish(result, outputs)
        self.write_summary(summary_success(result, outputs, self.stage_seconds))

    def write_summary(self, markdown: str) -> None:
        target = self.environ.get("GITHUB_STEP_SUMMARY")
        if target:
            with Path(target).open("a", encoding="utf-8") as stream:
                stream.write(markdown)
