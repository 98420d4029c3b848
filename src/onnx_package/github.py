"""GitHub runner integration: ::group:: per stage, ::add-mask:: for secrets, ::error:: annotations,
and a step summary. Only the edge (entrypoint.py) uses it."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from .report import Reporter
from .settings import Settings


def escape(text: str) -> str:
    """Workflow-command data escaping (%, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


class GitHubReporter(Reporter):
    def __init__(self, environ: Mapping[str, str], stream: TextIO | None = None) -> None:
        super().__init__(stream or sys.stdout)
        self.environ = environ

    def start(self, settings: Settings) -> None:
        for secret in settings.secrets():
            for line in secret.splitlines():
                if line.strip():
                    self.info(f"::add-mask::{escape(line.strip())}")

    def open_stage(self, name: str) -> None:
        self.info(f"::group::{name}")

    def close_stage(self, name: str, seconds: float) -> None:
        self.info(f"{name}: {seconds:.1f} s")
        self.info("::endgroup::")

    def fail(self, title: str, message: str) -> None:
        self.info(f"::error title={escape(title).replace(',', '%2C').replace(':', '%3A')}::{escape(message)}")
        self.write_summary(f"### onnx-package failed\n\n**{title}**: {message}\n")

    def finish(self, result: Any, outputs: Mapping[str, str]) -> None:
        rows = [f"| {name} | `{value}` |" for name, value in outputs.items() if value and "\n" not in value]
        times = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.stage_seconds.items())
        self.write_summary("### onnx-package\n\n| output | value |\n|---|---|\n" + "\n".join(rows)
                           + f"\n\nSmoke test: `{result.probe.answer}`. Stage times: {times}.\n")

    def write_summary(self, markdown: str) -> None:
        target = self.environ.get("GITHUB_STEP_SUMMARY")
        if target:
            with Path(target).open("a", encoding="utf-8") as stream:
                stream.write(markdown)
