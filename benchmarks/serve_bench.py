"""Benchmark the server against raw onnxruntime and the tutorial's Flask app, on one machine, one model.

    python benchmarks/serve_bench.py                    # ~8 minutes on 2 cores; writes .bench/serve_bench.json
    python benchmarks/serve_bench.py --seconds 2 --rounds 1 --out results.json --image REF

The model: RoBERTa-base-sized (12 layers, hidden 768, random weights), input_ids only (benchmarks/roberta.py).
Compared, at concurrency 1, 4 and 8, with a short text and a 32-token text:
  raw       onnxruntime session.run in this process, one text per call from N threads (the limit);
  served    `python -m onnx_serve` (the image's server, same code and deps) over HTTP, /predict;
  tutorial  Flask + slow Python tokenizer + torch tensors + onnxruntime (benchmarks/tutorial_app.py).
The three are measured in turns, point by point, so that other load on the machine hits them alike.
Also: start -> ready against session creation alone, the server's RSS against the model size, and the
size of what the image adds on top of its base (the locked deps + the server code, gzip), or, with
--image, the image's own layers. Needs torch, transformers and flask (not the image).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import roberta  # noqa: E402

SERVER_CODE = ROOT / "src" / "onnx_serve"
CONCURRENCY = (1, 4, 8)
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux_2_5_x86_64",
    "linux_x86_64",
)
SHORT = "Containers are good"
TARGETS = """\
served throughput >= 0.95 x raw at concurrency 8
served p50 <= raw p50 + 1 ms at concurrency 1
served throughput >= 1.5 x tutorial at concurrency 4
image adds <= 60 MB compressed (excluding the model)
start -> ready <= session creation + 0.5 s
RSS <= 1.2 x model size + 150 MB"""


# --- measuring ------------------------------------------------------------------------------------


def measure(call: Callable[[], None], concurrency: int, seconds: float) -> dict[str, float]:
    """Run `call` from `concurrency` threads for `seconds` (after a warm-up): throughput and latency."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    start, stop = threading.Event(), threading.Event()

    def worker(mine: list[float]) -> None:
        call()  # warm-up: connections, caches
        start.wait()
        while not stop.is_set() or not mine:  # at least one measured call each
            began = time.perf_counter()
            call()
            mine.append(time.perf_counter() - began)

    threads = [threading.Thread(target=worker, args=(mine,)) for mine in latencies]
    for t in threads:
        t.start()
    time.sleep(0.5)
    began = time.perf_counter()
    start.set()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    every = sorted(x for mine in latencies for x in mine)
    return {
        "requests": len(every),
        "throughput": len(every) / elapsed,
        "p50_ms": 1000 * statistics.median(every),
        "p95_ms": 1000 * every[int(0.95 * (len(every) - 1))],
    }


class Client(threading.local):
    """One keep-alive HTTP connection per thread."""

    def __init__(self, port: int, path: str, body: Any) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.path, self.body = path, json.dumps(body).encode()

    def __call__(self) -> None:
        self.connection.request("POST", self.path, self.body, {"Content-Type": "application/json"})
        response = self.connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"{self.path} answered {response.status}: {answer[:200]!r}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, path: str, process: subprocess.Popen[bytes], timeout: float = 120) -> float:
    """Seconds until GET path answers 200."""
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return time.perf_counter() - began
        except OSError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"not ready in {timeout}s")


def rss_mb(pid: int) -> dict[str, float]:
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {key: int(status[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


# --- the three systems ----------------------------------------------------------------------------


class Served:
    """A server process: started (timed to ready), asked, stopped (exit code kept)."""

    def __init__(self, command: list[str], env: dict[str, str], ready_path: str, port: int) -> None:
        self.port = port
        self.process = subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)  # fmt: skip
        self.start_to_ready_s = wait_for(port, ready_path, self.process)
        self.rss_ready_mb = rss_mb(self.process.pid)["VmRSS"]

    def client(self, text: str) -> Callable[[], None]:
        return Client(self.port, "/predict", [text])

    def finish(self) -> dict[str, Any]:
        """Start-to-ready, memory, then SIGTERM and the exit code."""
        facts = {"start_to_ready_s": self.start_to_ready_s, "rss_ready_mb": self.rss_ready_mb,
                 "rss_after_load_mb": rss_mb(self.process.pid)}  # fmt: skip
        self.process.terminate()
        return {**facts, "exit_code_after_sigterm": self.process.wait(timeout=60)}


def raw_session(model_dir: Path) -> Any:
    import onnxruntime as ort

    from onnx_serve.runtime import cpu_limit, session_options

    options = session_options(cpu_limit())  # the server's options: the comparison is of everything else
    return ort.InferenceSession(str(model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])


def bench_points(systems: dict[str, Callable[[str], Callable[[], None]]], texts: dict[str, str], seconds: float,
                 rounds: int) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Every (text, concurrency) point for every system, the systems interleaved so that a busy
    machine slows them alike; per point the round with the median throughput is kept."""
    results: dict[str, dict[str, Any]] = {name: {} for name in systems}
    for length, text in texts.items():
        for c in CONCURRENCY:
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in systems}
            for _ in range(rounds):
                for name, make_call in systems.items():
                    runs[name].append(measure(make_call(text), c, seconds))
            for name, measured in runs.items():
                median = sorted(measured, key=lambda r: r["throughput"])[len(measured) // 2]
                results[name][f"{length} c{c}"] = median
                print(f"  {name:8} {length:9} c{c}: {_line(median)}", flush=True)
    return results


def session_creation_seconds(model_dir: Path) -> float:
    """Creating the session alone, in a fresh process (median of 3)."""
    code = (
        "import time, onnxruntime as ort\n"
        "from onnx_serve.runtime import cpu_limit, session_options\n"
        "t = time.perf_counter()\n"
        f"ort.InferenceSession({str(model_dir / 'model.onnx')!r}, session_options(cpu_limit()), "
        "providers=['CPUExecutionProvider'])\n"
        "print(time.perf_counter() - t)\n"
    )
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(3)]  # fmt: skip
    return statistics.median(runs)


# --- image size -----------------------------------------------------------------------------------


def added_size_mb(image: str | None) -> dict[str, Any]:
    """What the image adds on top of its base, excluding the model, compressed."""
    if image:
        return _image_layers_mb(image)
    with tempfile.TemporaryDirectory() as tmp:
        deps = Path(tmp) / "deps"
        lock = SERVER_CODE / "requirements.lock"
        platforms = [f"--platform={p}" for p in PLATFORMS]
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(deps), "--python-version",
             "3.11", "--implementation", "cp", "--only-binary=:all:", *platforms, "-r", str(lock)],
            check=True, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(deps / "bin", ignore_errors=True)
        archive = Path(tmp) / "layers.tar.gz"
        with gzip.open(archive, "wb", compresslevel=6) as raw, tarfile.open(fileobj=raw, mode="w") as tar:
            tar.add(deps, "deps")
            tar.add(SERVER_CODE, "app/onnx_serve")
        installed = sum(f.stat().st_size for f in deps.rglob("*") if f.is_file())
        return {"how": "pip --no-deps -r requirements.lock + server code, tar.gz",
                "compressed_mb": archive.stat().st_size / 1e6, "installed_mb": installed / 1e6}  # fmt: skip


def _image_layers_mb(image: str) -> dict[str, Any]:
    """Layer sizes from `docker history`: all but the base image's and the model's (the last) layer."""
    out = subprocess.run(["docker", "history", "--no-trunc", "--format", "{{json .}}", image],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    layers = [json.loads(line) for line in out.splitlines()]
    ours = [layer for layer in layers if "/opt/onnx-serve/" in layer["CreatedBy"] and "model" not in layer["CreatedBy"]]
    size = sum(_bytes(layer["Size"]) for layer in ours)
    return {
        "how": f"docker history {image} (uncompressed layer sizes of deps/ and app/)",
        "uncompressed_mb": size / 1e6,
    }


def _bytes(text: str) -> float:
    units = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    return float(text)


# --- report ---------------------------------------------------------------------------------------


def _line(r: dict[str, float]) -> str:
    return f"{r['throughput']:7.1f} req/s  p50 {r['p50_ms']:7.2f} ms  p95 {r['p95_ms']:7.2f} ms"


def verdicts(report: dict[str, Any]) -> list[str]:
    raw, served, tutorial = report["raw"], report["served"], report["tutorial"]
    model_mb = report["model_mb"]
    lines = []
    for length in report["texts"]:
        ratio = served[f"{length} c8"]["throughput"] / raw[f"{length} c8"]["throughput"]
        lines.append(_verdict(f"{length}: served / raw throughput at c8 = {ratio:.2f}", ratio >= 0.95))
        extra = served[f"{length} c1"]["p50_ms"] - raw[f"{length} c1"]["p50_ms"]
        lines.append(_verdict(f"{length}: served p50 - raw p50 at c1 = {extra:+.2f} ms", extra <= 1.0))
        ratio = served[f"{length} c4"]["throughput"] / tutorial[f"{length} c4"]["throughput"]
        lines.append(_verdict(f"{length}: served / tutorial throughput at c4 = {ratio:.2f}", ratio >= 1.5))
    overhead = served["start_to_ready_s"] - report["session_creation_s"]
    lines.append(_verdict(f"start -> ready {served['start_to_ready_s']:.2f} s = session creation "
                          f"{report['session_creation_s']:.2f} s {overhead:+.2f} s", overhead <= 0.5))  # fmt: skip
    rss, peak = served["rss_after_load_mb"]["VmRSS"], served["rss_after_load_mb"]["VmHWM"]
    limit = 1.2 * model_mb + 150
    lines.append(_verdict(f"RSS {rss:.0f} MB after the load, peak {peak:.0f} MB while loading "
                          f"(limit 1.2 x {model_mb:.0f} + 150 = {limit:.0f} MB)", rss <= limit))  # fmt: skip
    size = report["image_adds"]
    if "compressed_mb" in size:
        lines.append(_verdict(f"image adds {size['compressed_mb']:.1f} MB compressed", size["compressed_mb"] <= 60))
    lines.append(_verdict(f"served exits {served['exit_code_after_sigterm']} on SIGTERM",
                          served["exit_code_after_sigterm"] == 0))  # fmt: skip
    return lines


def _verdict(text: str, ok: bool) -> str:
    return f"{'PASS' if ok else 'MISS'}  {text}"


def text_of_tokens(model_dir: Path, count: int) -> str:
    """A sentence that tokenizes to exactly `count` ids (specials included)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    words = " ".join(roberta.SENTENCES[:6]).split()
    for n in range(1, len(words)):
        text = " ".join(words[:n])
        if len(tokenizer.encode(text).ids) == count:
            return text
    raise RuntimeError(f"no prefix of the corpus is {count} tokens long")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0, help="measuring time per point and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per point (the median is kept)")
    parser.add_argument("--out", type=Path, default=ROOT / ".bench" / "serve_bench.json")
    parser.add_argument("--model-dir", type=Path, default=ROOT / ".bench" / "roberta")
    parser.add_argument("--image", help="a built image: report its layers instead of estimating them")
    args = parser.parse_args()

    model_dir = roberta.make(args.model_dir)
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    texts = {"short": SHORT, "32 tokens": text_of_tokens(model_dir, 32)}
    ids = {length: tokenizer.encode(text).ids for length, text in texts.items()}  # the tokens counted
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "model_mb": (model_dir / "model.onnx").stat().st_size / 1e6,
        "texts": {length: {"text": text, "tokens": len(ids[length])} for length, text in texts.items()},
    }
    print(f"model {report['model_mb']:.0f} MB; texts {report['texts']}", flush=True)
    report["session_creation_s"] = session_creation_seconds(model_dir)
    env = {"ONNX_SERVE_HOST": "127.0.0.1", "ONNX_SERVE_MODEL_DIR": str(model_dir), "PYTHONPATH": str(ROOT / "src")}
    port = free_port()
    served = Served([sys.executable, "-m", "onnx_serve"], {**env, "PORT": str(port)}, "/v2/health/ready", port)
    port = free_port()
    tutorial = Served([sys.executable, str(HERE / "tutorial_app.py"), str(model_dir), str(port)], {}, "/ready", port)
    session = raw_session(model_dir)

    def raw_call(text: str) -> Callable[[], None]:
        feeds = {"input_ids": np.array([tokenizer.encode(text).ids], dtype=np.int64)}
        return lambda: session.run(None, feeds)

    systems = {"raw": raw_call, "served": served.client, "tutorial": tutorial.client}
    report.update(bench_points(systems, texts, args.seconds, args.rounds))
    report["served"].update(served.finish())
    report["tutorial"].update(tutorial.finish())
    report["image_adds"] = added_size_mb(args.image)
    report["targets"] = TARGETS.splitlines()
    report["verdicts"] = verdicts(report)
    print("\n".join(report["verdicts"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
