"""The run's summary in Markdown, the same on every CI system (GitHub's step summary, Azure DevOps' build summary)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..image.release_gate import summary_rows
from ..report import short

if TYPE_CHECKING:
    from ..image.base_image import BaseImage
    from ..pipeline import Result


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
        f"### Packaged {spec['name']} version {spec['version']}",
        "",
        "| | |",
        "|---|---|",
        f"| model | {markdown_cell(spec['name'])} |",
        f"| version | {markdown_cell(spec['version'])} |",
        f"| sha256 | {markdown_cell(spec['sha256'])} |",
        f"| smoke test | passed: POST {probe.path} {markdown_cell(short(probe.body))} → "
        f"{markdown_cell(short(probe.answer))}{golden_note(result)}; the container gave the same "
        f"{'answers' if result.checked > 1 else 'answer'}, ready in {result.ready_seconds:.1f} s |",
        *[f"| {trial.kind} | {trial.describe()} |" for trial in result.trials],
        f"| image | {markdown_cell(result.image_id)}, {megabytes(result.image_size)} |",
        f"| base image | {markdown_cell(base_line(result.base))} |",
        f"| ML-BOM | {markdown_cell(sbom_cell(result))} |",
        *(f"| platform | {markdown_cell(image.checked)} |" for image in result.platforms),  # run or inspected
        "",
    ]
    if result.diff:
        lines += [*summary_rows(result.diff), ""]
    lines += [*summary_pushed(result), "", *summary_times(stage_seconds)]
    if outputs.get("digest"):
        lines += ["", f"Deploy by digest: {markdown_cell(outputs['digest'])}"]
    return "\n".join(lines) + "\n"


def sbom_cell(result: Result) -> str:
    where = ", ".join(attached.ref for attached in result.attached)
    return f"{result.sbom_line}; attached: {where}" if where else result.sbom_line


def golden_note(result: Result) -> str:
    if result.samples <= 1:
        return ""
    sent = "all sent" if result.checked == result.samples else f"the first {result.checked} sent"
    return f", and {result.samples - 1} more samples ({sent} to the container)"


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
