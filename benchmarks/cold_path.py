"""What the app adds around `session.run` on /predict when its code is cold: in one process, no HTTP.

    python benchmarks/cold_path.py                     # the server in src/, RoBERTa (benchmarks/roberta.py)
    PYTHONPATH=/elsewhere/src python benchmarks/cold_path.py --calls 600   # another tree's server

Each call goes through the real ASGI app (`create_app`, as uvicorn calls it) right after a raw
`session.run` of the same model in this process, which flushes the CPU's caches as the benchmark's
rounds do. Reported: the time from the call to the answer's last `send`, less the server's own
`session.run`, as p25 / p50 / p75. It leaves out uvicorn, the kernel and the client, and it is the
steadiest measure of the server's own path here (±30 µs between runs, against ±0.2 ms end to end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import roberta  # noqa: E402
from serve_bench import SHORT, raw_session  # noqa: E402

BODY = json.dumps([SHORT]).encode()


class TimedSession:
    """The predictor's session, its run times kept."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.runs: list[float] = []

    def run(self, names: Any, feeds: Any) -> Any:
        started = time.perf_counter()
        outputs = self.session.run(names, feeds)
        self.runs.append(time.perf_counter() - started)
        return outputs

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


async def measure(model_dir: Path, calls: int) -> list[float]:
    from onnx_serve.app import create_app
    from onnx_serve.predictor import Predictor
    from onnx_serve.settings import Settings

    predictor = Predictor.load(model_dir)
    raw = raw_session(model_dir)  # the server's session options, as in serve_bench's rounds
    assert predictor.encoder is not None
    feeds = {"input_ids": predictor.encoder.encode([SHORT])[0][1]["input_ids"]}
    timed = TimedSession(predictor.session)
    predictor.session = timed  # type: ignore[assignment]
    app = create_app(Settings(model_dir=model_dir), predictor)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/predict", "raw_path": b"/predict", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(BODY)).encode())],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080), "state": {},
    }  # fmt: skip
    answered: list[tuple[float, bytes]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            answered.append((time.perf_counter(), message["body"]))

    service = app.state.service
    await service.start()
    await service.wait_ready()
    for _ in range(5):  # warm-up: the batcher learns the run's time and runs it on the loop
        await app(dict(scope), receive, send)
    overheads = []
    for _ in range(calls):
        raw.run(None, feeds)
        timed.runs.clear()
        started = time.perf_counter()
        await app(dict(scope), receive, send)
        done, body = answered[-1]
        if json.loads(body) not in ({"positive": True}, {"positive": False}):
            raise RuntimeError(f"/predict answered {body[:200]!r}")
        overheads.append(done - started - sum(timed.runs))
    await service.stop()
    return sorted(overheads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--model-dir", type=Path, default=HERE.parent / ".bench" / "roberta")
    args = parser.parse_args()
    model_dir = roberta.make(args.model_dir)
    overheads = asyncio.run(measure(model_dir, args.calls))
    n = len(overheads)
    p25, p50, p75 = (1e6 * overheads[int(n * q)] for q in (0.25, 0.5, 0.75))
    import onnx_serve

    print(f"{onnx_serve.__file__}: the app around session.run, cold, over {n} calls: "
          f"p25 {p25:.0f} us, p50 {p50:.0f} us, p75 {p75:.0f} us")  # fmt: skip


if __name__ == "__main__":
    main()
