"""`python -m onnx_serve` as a process on 127.0.0.1: readiness, HEALTHCHECK, SIGTERM drain, exit codes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from serving import SRC, free_port, server_environ

from onnx_serve import healthcheck


def start(model_dir: Path, port: int, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "onnx_serve"],
        env=server_environ(model_dir, port, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_ready(process: subprocess.Popen[str], port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if healthcheck.healthy(port, timeout=1):
            return
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"not ready in {seconds}s:\n{process.communicate()[0]}")


def wait_queued(port: int, seconds: float = 20) -> None:
    """Until a request waits in the batcher's queue (seen through /metrics)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if "onnx_serve_queue_depth 1.0" in httpx.get(f"http://127.0.0.1:{port}/metrics").text:
            return
        time.sleep(0.02)
    pytest.fail(f"no request queued in {seconds}s")


def test_serves_drains_in_flight_requests_on_sigterm_and_exits_0(model_dir):
    port = free_port()
    # Each batch waits 2s for company, so the request below is still in flight when SIGTERM comes.
    process = start(model_dir("text"), port, ONNX_SERVE_MAX_QUEUE_DELAY_MS="2000")
    try:
        wait_ready(process, port)
        assert subprocess.run([sys.executable, "-m", "onnx_serve.healthcheck"], env={**os.environ, "PORT": str(port),
                              "PYTHONPATH": str(SRC)}, timeout=30).returncode == 0  # fmt: skip
        answers: list[httpx.Response | Exception] = []

        def ask() -> None:
            try:
                answers.append(httpx.post(f"http://127.0.0.1:{port}/predict", json=["Containers are good"], timeout=30))
            except httpx.HTTPError as e:
                answers.append(e)

        request = threading.Thread(target=ask)
        request.start()
        wait_queued(port)
        process.send_signal(signal.SIGTERM)
        request.join(timeout=30)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        output = process.communicate()[0]
    [answer] = answers
    assert isinstance(answer, httpx.Response), f"{answer!r}\n{output}"
    assert answer.status_code == 200 and answer.json() == {"positive": True}
    assert not healthcheck.healthy(port, timeout=1)
    assert "ready: sentiment version 1" in output


def test_a_model_that_cannot_be_served_exits_1(tmp_path):
    process = start(tmp_path, free_port())
    try:
        assert process.wait(timeout=60) == 1
    finally:
        if process.poll() is None:
            process.kill()
    assert "cannot serve the model" in process.communicate()[0]


def test_an_invalid_setting_exits_2(tmp_path):
    process = start(tmp_path, free_port(), ONNX_SERVE_MAX_BATCH_SIZE="lots")
    assert process.wait(timeout=60) == 2
    assert "ONNX_SERVE_MAX_BATCH_SIZE='lots' is not a number" in process.communicate()[0]


def test_the_healthcheck_fails_when_nothing_listens(monkeypatch):
    monkeypatch.setenv("PORT", str(free_port()))
    assert healthcheck.main() == 1
    monkeypatch.setenv("PORT", "not-a-port")
    assert healthcheck.main() == 1
