"""gRPC against HTTP for the same server, model and client machine: p50/p95 at concurrency 1, calls alternating.

    python benchmarks/grpc_bench.py [--calls 2000]

Serves a small text classifier (tests/support/models.py) with `python -m onnx_serve` on 127.0.0.1 with both ports, then,
in the client venv (.venv-kserve: tritonclient.grpc), sends the same two texts as the Open Inference Protocol
over gRPC (tritonclient.grpc, raw tensors) and over HTTP/JSON (one kept-alive http.client connection), one call
of each in turn, so other load on the machine hits both alike. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
from server_models import models, write_spec  # noqa: E402

CLIENT = r"""
import http.client, json, statistics, sys, time
import numpy as np
import tritonclient.grpc as triton
http_port, grpc_port, calls = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
texts = ["Containers are good", "Containers are terrible"]
client = triton.InferenceServerClient(f"127.0.0.1:{grpc_port}")
tensor = triton.InferInput("text", [2], "BYTES")
tensor.set_data_from_numpy(np.asarray(texts, dtype=object))
body = json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": texts}]})
connection = http.client.HTTPConnection("127.0.0.1", http_port)
def over_http():
    connection.request("POST", "/v2/models/bench/infer", body, {"Content-Type": "application/json"})
    answer = connection.getresponse()
    assert answer.status == 200, answer.read()
    answer.read()
def over_grpc():
    client.infer("bench", [tensor])
timings = {"http": [], "grpc": []}
for i in range(calls + 100):
    pair = (("http", over_http), ("grpc", over_grpc))
    for name, call in pair if i % 2 else pair[::-1]:
        start = time.perf_counter()
        call()
        if i >= 100:
            timings[name].append((time.perf_counter() - start) * 1000)
def quantiles(values):
    cuts = statistics.quantiles(values, n=100)
    return {"p50_ms": round(cuts[49], 3), "p95_ms": round(cuts[94], 3)}
print(json.dumps({name: quantiles(values) for name, values in timings.items()}))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server did not listen on {port} in {seconds} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    client_python = os.environ.get("KSERVE_PYTHON") or str(ROOT / ".venv-kserve" / "bin" / "python")
    with tempfile.TemporaryDirectory() as folder:
        model = write_spec(
            models.make_text_classifier(Path(folder) / "bench"),
            name="bench",
            task="text-classification",
            max_length=128,
            labels=["negative", "positive"],
        )
        http_port, grpc_port = free_port(), free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "src"),
            "PORT": str(http_port),
            "ONNX_SERVE_HOST": "127.0.0.1",
            "ONNX_SERVE_MODEL_DIR": str(model),
            "ONNX_SERVE_GRPC_PORT": str(grpc_port),
            "ONNX_SERVE_THREADS": "1",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "onnx_serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_ready(http_port)
            wait_ready(grpc_port)
            time.sleep(2)  # the model warms up after the ports open
            done = subprocess.run(
                [client_python, "-c", CLIENT, str(http_port), str(grpc_port), str(args.calls)],
                capture_output=True,
                text=True,
                timeout=1800,
                check=True,
            )
        finally:
            server.terminate()
            server.wait(timeout=60)
    result = json.loads(done.stdout)
    result["grpc_minus_http_p50_ms"] = round(result["grpc"]["p50_ms"] - result["http"]["p50_ms"], 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
