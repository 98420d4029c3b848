"""The bed a failing run happens in, and what every failure must look like.

A failure must: exit non-zero; print exactly one `error:` line that names the cause and the fix
("Fix:"); show no traceback; write no outputs; and push nothing to any registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cli_runs import Run

if TYPE_CHECKING:
    from testbed import Registry


@dataclass
class Bed:
    """Where one failing run happens, and where it must not have left anything."""

    tmp_path: Path
    registries: tuple[Registry, ...]
    prefix: str  # unique per test: every repository path starts with it
    base_image: str

    @property
    def repo(self) -> str:
        return f"{self.prefix}/model"

    def images(self, *registries: Registry) -> str:
        return "\n".join(f"{r.host}/{self.repo}" for r in registries or self.registries)


@dataclass(frozen=True)
class AzureWorkspace:
    subscription: str
    credentials: str  # the azure-credentials JSON
    secret: str  # its clientSecret
    environ: dict[str, str]  # what a run needs to reach the local Azure


def repositories(registry: Registry, page: int = 1000, max_pages: int = 100) -> list[str]:
    """Every repository the registry holds (its catalog, page by page)."""
    found: list[str] = []
    with registry.http() as client:
        for _ in range(max_pages):
            params: dict[str, str | int] = {"n": page, **({"last": found[-1]} if found else {})}
            response = client.get("/v2/_catalog", params=params)
            response.raise_for_status()
            names = list(response.json().get("repositories") or [])
            found += names
            if len(names) < page:
                return found
    raise AssertionError(f"{registry.host} lists more than {page * max_pages} repositories")


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_refused(run: Run, bed: Bed, cause: str) -> str:
    """The run failed with one clear line naming `cause` and a fix, and left nothing behind; returns the line."""
    assert run.code != 0, run.stderr
    errors = error_lines(run.stderr)
    assert len(errors) == 1, run.stderr
    line = errors[0]
    assert cause in line, run.stderr
    assert ". Fix: " in line and line.split(". Fix: ", 1)[1].strip(), line
    assert "Traceback" not in run.stderr, run.stderr
    assert run.outputs == {}
    for registry in bed.registries:
        assert not [repo for repo in repositories(registry) if repo.startswith(bed.prefix)], registry.host
    return line
