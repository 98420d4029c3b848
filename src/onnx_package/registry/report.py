"""The per-registry report of a push: what each repository got (refs, digests, bytes, time, credentials) or why
it failed, as the table the log shows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import PushError
from .refs import Pushed, Repository


@dataclass
class RepositoryReport:
    """What happened for one repository: the refs pushed, the bytes sent, the time, or the failure."""

    repository: Repository
    pushed: list[Pushed] = field(default_factory=list)
    bytes_pushed: int = 0
    seconds: float = 0.0
    credentials: str = ""
    error: PushError | None = None
    already_there: int = 0  # tags that already served this very image: nothing sent


def human_bytes(count: int) -> str:
    if count < 1000:
        return f"{count} B"
    size = float(count)
    for unit in ("kB", "MB", "GB"):
        size /= 1000
        if size < 1000 or unit == "GB":
            break
    return f"{size:.1f} {unit}"


def report_lines(reports: list[RepositoryReport]) -> Iterator[str]:
    """The per-registry table: pushed ref -> digest, bytes sent, time; then each failure, cause and fix."""
    rows = [("reference", "digest", "sent", "time", "credentials")]
    for report in reports:
        for index, pushed in enumerate(report.pushed):
            first = index == 0
            sent = "already there" if report.already_there == len(report.pushed) else human_bytes(report.bytes_pushed)
            rows.append(
                (
                    pushed.ref,
                    pushed.digest,
                    sent if first else "",
                    f"{report.seconds:.1f} s" if first else "",
                    report.credentials if first else "",
                )
            )
        if report.error:
            rows.append((report.repository.name, "FAILED", "", f"{report.seconds:.1f} s", report.credentials))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        yield "    " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
    for report in reports:
        if report.error:
            yield f"    FAILED {report.repository.name}: {report.error}"
