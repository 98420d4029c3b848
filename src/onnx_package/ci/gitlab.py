"""GitLab CI (GITLAB_CI set): a collapsible section per stage, secrets never printed (replaced by [MASKED]),
and the outputs in a dotenv file for `artifacts: reports: dotenv:`."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from ..outputs import variable_name
from ..report import Reporter

DOTENV_VARIABLE = "ONNX_PACKAGE_DOTENV"  # where to write the dotenv file; default onnx-package.env
DEFAULT_DOTENV = "onnx-package.env"
MASKED = "[MASKED]"


def section_name(stage: str) -> str:
    """GitLab accepts only [a-z0-9_] in a section name."""
    return re.sub(r"[^a-z0-9_]+", "_", stage.lower()).strip("_")


def dotenv_line(name: str, value: str) -> str:
    """GitLab's dotenv takes one line per variable, unquoted: a multi-line value (images) is joined by spaces."""
    return f"{variable_name(name)}={' '.join(value.split())}"


class GitLabReporter(Reporter):
    def __init__(self, environ: Mapping[str, str], stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self.environ = environ
        self.secrets: set[str] = set()

    def info(self, message: str) -> None:
        for secret in sorted(self.secrets, key=len, reverse=True):  # a longer secret may hold a shorter one
            message = message.replace(secret, MASKED)
        super().info(message)

    def mask(self, value: str) -> None:
        if value:
            self.secrets.add(value)

    def open_stage(self, name: str) -> None:
        self.info(f"\x1b[0Ksection_start:{int(time.time())}:{section_name(name)}[collapsed=true]\r\x1b[0K{name}")

    def close_stage(self, name: str, seconds: float) -> None:
        self.info(f"    {name}: {seconds:.1f} s")
        self.info(f"\x1b[0Ksection_end:{int(time.time())}:{section_name(name)}\r\x1b[0K")

    def write_outputs(self, values: Mapping[str, str], environ: Mapping[str, str]) -> None:
        super().write_outputs(values, environ)
        path = Path(self.environ.get(DOTENV_VARIABLE) or DEFAULT_DOTENV)
        path.write_text("".join(dotenv_line(name, value) + "\n" for name, value in values.items()), encoding="utf-8")
        self.info(f"outputs written to {path} (artifacts: reports: dotenv: {path})")
