"""GitHub runner integration: ::group:: per stage, ::add-mask:: for secrets, ::error:: annotations,
and a step summary. Only the edge (entrypoint.py) uses it."""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import yaml

from .report import Reporter
from .settings import Settings
from .smoke import short

if TYPE_CHECKING:
    from .base_image import BaseImage
    from .pipeline import Result

# Keys whose values are secrets inside a structured secret input (azure-credentials, registry-auth).
SECRET_KEYS = ("secret", "password", "passwd", "token", "auth")


def escape_data(text: str) -> str:
    """Workflow-command message escaping (%, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Workflow-command property escaping: data escaping plus ':' and ','."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def parse_structured(raw: str) -> Any:
    """A secret input as JSON or YAML (azure-credentials, registry-auth); None when it is neither."""
    try:
        return json.loads(raw)
    except ValueError:
        pass
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return None


def secret_leaves(data: Any, key: str = "") -> Iterator[str]:
    """Every string under a secret-looking key, at any depth."""
    if isinstance(data, dict):
        for name, value in data.items():
            yield from secret_leaves(value, str(name))
    elif isinstance(data, list):
        for item in data:
            yield from secret_leaves(item, key)
    elif isinstance(data, str | int) and not isinstance(data, bool) and is_secret_key(key):
        yield str(data)


def is_secret_key(key: str) -> bool:
    return any(word in key.lower() for word in SECRET_KEYS)


def values_to_mask(raw: str) -> list[str]:
    """The values inside one secret input to mask: its secret fields, and the whole value when it is one line.

    The lines of a multi-line value are not masked one by one: a line like `{` would hide every brace
    in the log. GitHub already masks the whole `${{ secrets.X }}` value."""
    value = raw.strip()
    found = [value] if value and "\n" not in value else []
    found += [leaf.strip() for leaf in secret_leaves(parse_structured(value)) if leaf.strip()]
    return list(dict.fromkeys(found))


def markdown_cell(value: object) -> str:
    """A value as inline code in a table cell."""
    text = str(value).replace("`", "'").replace("|", "\\|").replace("\n", " ")
    return f"`{text}`"


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def summary_success(result: Result, outputs: Mapping[str, str], stage_seconds: Mapping[str, float]) -> str:
    spec = result.spec
    probe = result.probe
    lines = [
        f"### Packaged {spec['name']} version {spec['version']}", "",
        "| | |", "|---|---|",
        f"| model | {markdown_cell(spec['name'])} |",
        f"| version | {markdown_cell(spec['version'])} |",
        f"| sha256 | {markdown_cell(spec['sha256'])} |",
        f"| smoke test | passed: POST {probe.path} {markdown_cell(short(probe.body))} → "
        f"{markdown_cell(short(probe.answer))}; the container gave the same answer, "
        f"ready in {result.ready_seconds:.1f} s |",
        f"| image | {markdown_cell(result.image_id)}, {megabytes(result.image_size)} |",
        f"| base image | {markdown_cell(base_line(result.base))} |",
        "",
    ]
    lines += [*summary_pushed(result), "", *summary_times(stage_seconds)]
    if outputs.get("digest"):
        lines += ["", f"Deploy by digest: {markdown_cell(outputs['digest'])}"]
    return "\n".join(lines) + "\n"


def base_line(base: BaseImage) -> str:
    pinned = f"@{base.digest}" if base.digest else f" (local image {base.image_id}, pinned by no registry)"
    return f"{base.name}{pinned}, Python {base.python}, linux/{base.arch}"


def summary_pushed(result: Result) -> list[str]:
    if not result.pushed:
        return ["Not pushed (push: false)."]
    rows = [f"| {markdown_cell(p.ref)} | {markdown_cell(p.digest)} |" for p in result.pushed]
    return ["| pushed | digest (served by the registry) |", "|---|---|", *rows]


def summary_times(stage_seconds: Mapping[str, float]) -> list[str]:
    rows = [f"| {name} | {seconds:.1f} s |" for name, seconds in stage_seconds.items()]
    total = sum(stage_seconds.values())
    return ["| stage | time |", "|---|---|", *rows, f"| total | {total:.1f} s |"]


def summary_failure(title: str, message: str, stage_seconds: Mapping[str, float]) -> str:
    cause, _, fix = message.partition(". Fix: ")
    lines = [f"### onnx-package failed: {title}", "", cause.rstrip(".") + "."]
    if fix:
        lines += ["", f"**Fix:** {fix}"]
    if stage_seconds:
        lines += ["", *summary_times(stage_seconds)]
    return "\n".join(lines) + "\n"


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

    def start(self, settings: Settings) -> None:
        for raw in settings.secrets():
            for value in values_to_mask(raw):
                self.mask(value)

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
