"""The release gate: the new image against the one it replaces, on the golden set, before anything is pushed.

The previous image is the one the build cache pulled (this run's tag, latest, or the newest version tag of the
first repository). Both run read-only side by side; every golden request goes to each in turn (so other load
hits them alike): the answers that changed, p50/p95 latency, time to ready, memory after answering, image
size. `max-changed-answers` stops the run before the push when more answers changed than it allows.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import docker
from docker.models.containers import Container

from ..errors import ReleaseGateError
from ..model.smoke import Probe, same_answer
from ..report import Reporter, short
from ..settings import Settings
from .check import CONTAINER_SAMPLES, ask, start_ready

MIN_CALLS = 20  # per image: enough calls for a p95 even with a one-request golden set
SHOWN_CHANGES = 20  # changed answers listed in the diff output


@dataclass
class Side:
    image: str
    ready_seconds: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    memory_mb: float = 0.0
    size_mb: float = 0.0
    latencies: list[float] = field(default_factory=list, repr=False)


@dataclass
class Diff:
    previous: Side
    new: Side
    requests: int
    changed: list[dict[str, Any]]  # the first SHOWN_CHANGES: request, previous answer, new answer
    changed_count: int

    def to_json(self) -> str:
        sides = {
            name: {k: v for k, v in asdict(side).items() if k != "latencies"}
            for name, side in (("previous", self.previous), ("new", self.new))
        }
        return json.dumps(
            {**sides, "requests": self.requests, "changed_answers": self.changed_count, "changes": self.changed},
            sort_keys=True,
        )


def memory_mb(container: Container) -> float:
    stats = cast("dict[str, Any]", container.stats(stream=False)).get("memory_stats") or {}
    return round(float(stats.get("usage") or 0) / 1e6, 1)


def quantile(values: list[float], q: int) -> float:
    return round(statistics.quantiles(values, n=100)[q - 1], 2) if len(values) > 1 else round(values[0], 2)


def compare_images(
    client: docker.DockerClient, settings: Settings, previous: str, new: str, probes: list[Probe], reporter: Reporter
) -> Diff:
    """Both images answer the golden set, in turn; RequestErrors of the previous image count as answers."""
    sides, containers = [Side(previous), Side(new)], []
    try:
        for side in sides:
            container, route, side.ready_seconds = start_ready(client, side.image, settings.check_timeout)
            containers.append((container, route))
        sent = probes[:CONTAINER_SAMPLES]
        calls = max(len(sent), MIN_CALLS)
        answers: list[list[Any]] = [[], []]
        for index in range(calls):
            probe = sent[index % len(sent)]
            for turn, (side, (container, route)) in enumerate(zip(sides, containers, strict=True)):
                began = time.perf_counter()
                status, answer = ask(container, route, probe)
                side.latencies.append((time.perf_counter() - began) * 1000)
                if index < len(sent):
                    answers[turn].append(answer if status == 200 else {"status": status, "answer": answer})
        for side, (container, _) in zip(sides, containers, strict=True):
            side.memory_mb = memory_mb(container)
            side.size_mb = round(float(client.images.get(side.image).attrs.get("Size") or 0) / 1e6, 1)
            side.p50_ms, side.p95_ms = quantile(side.latencies, 50), quantile(side.latencies, 95)
    finally:
        for container, _ in containers:
            container.remove(force=True)
    changed = [
        {"request": probe.body, "previous": old, "new": now}
        for probe, old, now in zip(sent, answers[0], answers[1], strict=True)
        if not same_answer(now, old)
    ]
    diff = Diff(sides[0], sides[1], len(sent), changed[:SHOWN_CHANGES], len(changed))
    reporter.info(
        f"    {diff.changed_count} of {diff.requests} answers changed; p50 {sides[0].p50_ms} -> "
        f"{sides[1].p50_ms} ms, ready {sides[0].ready_seconds:.1f} -> {sides[1].ready_seconds:.1f} s, "
        f"memory {sides[0].memory_mb} -> {sides[1].memory_mb} MB"
    )
    return diff


def enforce(diff: Diff, limit: int | None) -> None:
    """Stop before the push when more answers changed than max-changed-answers allows."""
    if limit is None or diff.changed_count <= limit:
        return
    first = diff.changed[0]
    raise ReleaseGateError(
        f"{diff.changed_count} of {diff.requests} golden answers changed from the previous image "
        f"{diff.previous.image[:19]}, more than max-changed-answers {limit} (e.g. "
        f"{short(first['request'], 60)}: {short(first['previous'], 60)} -> "
        f"{short(first['new'], 60)})",
        "check the new model version against the diff output, then raise max-changed-answers "
        "or leave it empty to report only",
    )


def summary_rows(diff: Diff) -> list[str]:
    old, new = diff.previous, diff.new
    rows = [
        ("answers changed", "", f"{diff.changed_count} of {diff.requests}"),
        ("p50 / p95 latency", f"{old.p50_ms} / {old.p95_ms} ms", f"{new.p50_ms} / {new.p95_ms} ms"),
        ("time to ready", f"{old.ready_seconds:.1f} s", f"{new.ready_seconds:.1f} s"),
        ("memory after answering", f"{old.memory_mb} MB", f"{new.memory_mb} MB"),
        ("image size", f"{old.size_mb} MB", f"{new.size_mb} MB"),
    ]
    return [
        "| against the previous image | previous | new |",
        "|---|---|---|",
        *(f"| {name} | {before} | {after} |" for name, before, after in rows),
    ]
