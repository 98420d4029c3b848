"""The served model under load from a second process (tests/server/load.py): 10,000 requests at
concurrency 16 with zero errors and a resident set size that settles; and SIGTERM under load, which
must let every in-flight request finish before the server exits 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving import Served, server_errors, start_server, text_model_dir

pytestmark = pytest.mark.reliability

LOAD = Path(__file__).with_name("load.py")
TUTORIAL, ANSWER = '["Containers are good"]', '{"positive": true}'
REQUESTS, CONCURRENCY = 10_000, 16
SETTLED_GROWTH = 5_000_000  # bytes the RSS may still grow over the second half of the run (a 1 kB/request leak: 5 MB)
BOUND = 600  # seconds any load run may take


def start_load(url: str, out: Path, *flags: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(LOAD), url, TUTORIAL, ANSWER, str(out), *flags])


def finished(load: subprocess.Popen[bytes], out: Path, timeout: float = BOUND) -> dict[str, Any]:
    assert load.wait(timeout=timeout) == 0
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def sample_rss(served: Served, load: subprocess.Popen[bytes], every: float = 0.1) -> list[int]:
    """The server's RSS every `every` seconds while the load runs (bounded)."""
    samples, deadline = [], time.monotonic() + BOUND
    while load.poll() is None and time.monotonic() < deadline:
        samples.append(served.rss_bytes())
        time.sleep(every)
    return samples


def megabytes(size: float) -> str:
    return f"{size / 1e6:.1f} MB"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    served = start_server(text_model_dir(tmp_path / "model"), tmp_path / "server.log")
    yield served
    served.stop()


def test_ten_thousand_requests_at_concurrency_16_without_an_error_and_rss_settles(
    server: Served, tmp_path: Path
) -> None:
    ready = server.rss_bytes()
    load = start_load(
        server.url + "/predict", tmp_path / "load.json", "--requests", str(REQUESTS), "--concurrency", str(CONCURRENCY)
    )
    samples = sample_rss(server, load)
    result = finished(load, tmp_path / "load.json")
    first, second = samples[: len(samples) // 2], samples[len(samples) // 2 :]
    print(
        f"{result['requests']} requests at concurrency {CONCURRENCY} in {result['seconds']:.1f} s, "
        f"{result['ok']} ok, errors {result['errors']}; RSS ready {megabytes(ready)}, peak first half "
        f"{megabytes(max(first))}, peak second half {megabytes(max(second))}, end {megabytes(samples[-1])} "
        f"({len(samples)} samples)"
    )
    assert result["requests"] == result["ok"] == REQUESTS and result["errors"] == {}
    assert len(samples) >= 10, "too few RSS samples to judge"
    assert max(second) - max(first) < SETTLED_GROWTH
    assert server_errors(server) == {}
    assert httpx.get(server.url + "/v2/health/ready", timeout=10).status_code == 200


# --- SIGTERM under load -------------------------------------------------------------------------------


def queued(served: Served) -> float:
    text = httpx.get(served.url + "/metrics", timeout=10).text
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith("onnx_serve_queue_depth "))


def wait_until(condition: Any, seconds: float = 60, every: float = 0.01) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError(f"not within {seconds} s")


@pytest.fixture
def slow_batches(tmp_path: Path) -> Iterator[Served]:
    """Batches wait 1.5 s to fill (up to 64 items), so each of the 16 clients always has a request in flight."""
    served = start_server(
        text_model_dir(tmp_path / "model"),
        tmp_path / "server.log",
        ONNX_SERVE_MAX_QUEUE_DELAY_MS="1500",
        ONNX_SERVE_MAX_BATCH_SIZE="64",
    )
    yield served
    served.stop()


def test_sigterm_under_load_answers_every_request_in_flight_then_exits_0(slow_batches: Served, tmp_path: Path) -> None:
    load = start_load(
        slow_batches.url + "/predict",
        tmp_path / "load.json",
        "--until-failure",
        "--concurrency",
        str(CONCURRENCY),
        "--seconds",
        "120",
    )
    try:
        wait_until(lambda: requests_answered(slow_batches) >= 3 * CONCURRENCY)  # under load for a while
        wait_until(lambda: queued(slow_batches) == CONCURRENCY)  # every client has a request in the server
        signalled = time.time()
        code = slow_batches.terminate(timeout=60)
    finally:
        result = finished(load, tmp_path / "load.json", timeout=120)
    before = [r for r in result["records"] if r[0] < signalled]
    in_flight = [r for r in before if r[1] > signalled]
    after = [r for r in result["records"] if r[0] >= signalled]
    print(
        f"SIGTERM with {len(in_flight)} requests in flight ({len(before)} sent before it): "
        f"{sum(r[2] == 'ok' for r in before)} answered 200; afterwards {len(after)} refused "
        f"({sorted({r[2] for r in after})}); exit code {code}"
    )
    assert code == 0, slow_batches.output()[-2000:]
    assert len(in_flight) == CONCURRENCY
    assert [r[2] for r in before] == ["ok"] * len(before)
    assert all(r[2] != "ok" and not r[2].startswith("status") for r in after)  # refused or closed, never a 5xx
    assert len(after) <= CONCURRENCY  # each client stopped at its first refusal


def requests_answered(served: Served) -> float:
    text = httpx.get(served.url + "/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('onnx_serve_requests_total{method="POST",route="/predict",status="200"}')
    )
