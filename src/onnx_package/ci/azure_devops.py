"""Azure Pipelines (TF_BUILD set): ##[group] per stage, ##vso[task.setsecret] for secrets, output variables,
an error issue that fails the task, and the summary attached to the build."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from ..outputs import variable_name
from ..report import Reporter
from .summary import summary_failure, summary_success

SUMMARY_FILE = "onnx-package-summary.md"
COMMAND_START = re.compile(r"##(vso)?\[")  # the agent runs these wherever they appear in a line


# Logging-command escaping (azure-pipelines-task-lib): a message's %, CR and LF; a property's also ';' and ']'.
DATA = str.maketrans({"%": "%AZP25", "\r": "%0D", "\n": "%0A"})
PROPERTY = {**DATA, **str.maketrans({";": "%3B", "]": "%5D"})}


def escape_data(text: str) -> str:
    return text.translate(DATA)


def escape_property(text: str) -> str:
    return text.translate(PROPERTY)


class AzureDevOpsReporter(Reporter):
    def __init__(self, environ: Mapping[str, str], stream: TextIO | None = None) -> None:
        super().__init__(stream or sys.stdout)  # the agent reads logging commands on standard output only
        self.environ = environ
        self.masked: set[str] = set()

    def command(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def info(self, message: str) -> None:
        """Log text from a model, registry or build: a `##vso[` in it must not run (a zero-width space breaks it)."""
        self.command(COMMAND_START.sub(lambda match: "#\u200b#" + match.group(0)[2:], message))

    def warn(self, message: str) -> None:
        self.command(f"##vso[task.logissue type=warning]{escape_data(message)}")

    def mask(self, value: str) -> None:
        if value not in self.masked:
            self.masked.add(value)
            self.command(f"##vso[task.setsecret]{escape_data(value)}")

    def open_stage(self, name: str) -> None:
        self.command(f"##[group]{name}")

    def close_stage(self, name: str, seconds: float) -> None:
        self.info(f"{name}: {seconds:.1f} s")
        self.command("##[endgroup]")

    def write_outputs(self, values: Mapping[str, str], environ: Mapping[str, str]) -> None:
        for name, value in values.items():
            variable = escape_property(variable_name(name))
            self.command(f"##vso[task.setvariable variable={variable};isOutput=true]{escape_data(value)}")

    def fail(self, title: str, message: str) -> None:
        self.command(f"##vso[task.logissue type=error]{escape_data(f'{title}: {message}')}")
        self.upload_summary(summary_failure(title, message, self.stage_seconds))
        self.command("##vso[task.complete result=Failed;]")

    def finish(self, result: Any, outputs: Mapping[str, str]) -> None:
        super().finish(result, outputs)
        self.upload_summary(summary_success(result, outputs, self.stage_seconds))

    def upload_summary(self, markdown: str) -> None:
        """Written under the agent's temporary folder (else RUNNER_TEMP or here) and attached to the build."""
        folder = Path(self.environ.get("AGENT_TEMPDIRECTORY") or self.environ.get("RUNNER_TEMP") or ".")
        path = (folder / SUMMARY_FILE).absolute()
        path.write_text(markdown, encoding="utf-8")
        self.command(f"##vso[task.uploadsummary]{escape_data(str(path))}")
