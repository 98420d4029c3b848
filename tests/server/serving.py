"""`python -m onnx_serve` as its own process on 127.0.0.1, as the image runs it; model folders for it.

served = start_server(text_model_dir(tmp / "text"))
served.url, served.rss_bytes(), served.stop()
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from models import make_tabular_classifier, make_tabular_regressor, make_text_classifier
from onnx_serve.spec import ServeSpec

SRC = Path(__file__).resolve().parents[2] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_spec(folder: Path, name: str, task: str, labels: list[str] | None = None) -> Path:
    """serve.json as the packager writes it (docs/ARCHITECTURE.md)."""
    ServeSpec(
        name=name, version="1", task=task, sha256="0" * 64, labels=tuple(labels) if labels else None, max_length=128
    ).write(folder)  # max_length is written for text models only
    return folder


def text_model_dir(dest: Path) -> Path:
    return write_spec(make_text_classifier(dest), "sentiment", "text-classification", ["negative", "positive"])


def wine_model_dir(dest: Path) -> Path:
    return write_spec(make_tabular_classifier(dest), "wine", "tabular")


def regressor_model_dir(dest: Path) -> Path:
    return write_spec(make_tabular_regressor(dest), "diabetes", "tabular")


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    model: str  # the served model's name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_bytes(self) -> int:
        """The server process's resident set size, from /proc."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS in /proc status")

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit code (killed after `timeout`)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
            raise AssertionError(f"the server did not stop within {timeout} s of SIGTERM") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def server_environ(model_dir: Path, port: int, **env: str) -> dict[str, str]:
    """The environment of `python -m onnx_serve` serving model_dir on 127.0.0.1:port, one thread."""
    return {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "PORT": str(port),
        "ONNX_SERVE_HOST": "127.0.0.1",
        "ONNX_SERVE_MODEL_DIR": str(model_dir),
        "ONNX_SERVE_THREADS": "1",
        **env,
    }


def start_server(model_dir: Path, log: Path, ready_within: float = 120, **env: str) -> Served:
    """Start the server on a free port and wait (bounded) until /v2/health/ready answers 200."""
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "onnx_serve"],
            env=server_environ(model_dir, port, **env),
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    served = Served(process, port, log, json.loads((model_dir / "serve.json").read_text())["name"])
    deadline = time.monotonic() + ready_within
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(served.url + "/v2/health/ready", timeout=2).status_code == 200:
                return served
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    served.stop()
    raise AssertionError(f"the server was not ready within {ready_within} s:\n{served.output()[-3000:]}")


def server_errors(served: Served) -> dict[str, float]:
    """5xx answers the server counted, by route and status (from /metrics)."""
    text = httpx.get(served.url + "/metrics", timeout=10).text
    found = {}
    for line in text.splitlines():
        if line.startswith("onnx_serve_requests_total{") and 'status="5' in line:
            labels, value = line.rsplit(" ", 1)
            if float(value):
                found[labels] = float(value)
    return found
