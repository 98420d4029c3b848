"""A load generator, run as its own process: N POSTs at concurrency C against one URL, each answer checked.

    python load.py URL BODY_JSON EXPECTED_JSON OUT.json --requests 10000 --concurrency 16
    python load.py ... --until-failure      # each worker stops at its first failure (the server went away)

Each worker keeps one HTTP/1.1 keep-alive connection, spoken directly on asyncio streams: a Python HTTP
client costs more CPU per request than the server does, and this machine's two cores are shared.
OUT.json: {"requests", "ok", "errors": {kind: count}, "seconds", "records": [[started, ended, outcome], ...]};
times are Unix times (time.time()), comparable with another process's. Every loop is bounded by
--requests and --seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

READ_TIMEOUT = 60.0


@dataclass
class Tally:
    left: int  # requests not yet started
    deadline: float  # time.monotonic() after which no request starts
    errors: Counter[str] = field(default_factory=Counter)
    records: list[tuple[float, float, str]] = field(default_factory=list)
    ok: int = 0

    def take(self) -> bool:
        if self.left <= 0 or time.monotonic() > self.deadline:
            return False
        self.left -= 1
        return True


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    request: bytes  # the whole POST, head and body
    expected: Any

    @classmethod
    def of(cls, url: str, body: str, expected: str) -> Target:
        parts = urlsplit(url)
        data = body.encode()
        head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        return cls(parts.hostname or "127.0.0.1", parts.port or 80, head.encode() + data, json.loads(expected))


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: Target) -> str:
    """One request on an open connection: 'ok', 'status N' or 'wrong answer'."""
    writer.write(target.request)
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT)
    status = int(lines[0].split(" ", 2)[1])
    if status != 200:
        return f"status {status}"
    return "ok" if json.loads(body) == target.expected else "wrong answer"


async def worker(target: Target, tally: Tally, until_failure: bool) -> None:
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while tally.take():
        started = time.time()
        try:
            connection = connection or await asyncio.open_connection(target.host, target.port)
            outcome = await exchange(*connection, target)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, StopIteration, ValueError) as err:
            outcome, connection = type(err).__name__, None
        tally.records.append((started, time.time(), outcome))
        if outcome == "ok":
            tally.ok += 1
            continue
        tally.errors[outcome] += 1
        if until_failure:
            return


async def run(args: argparse.Namespace) -> dict[str, Any]:
    target = Target.of(args.url, args.body, args.expected)
    tally = Tally(args.requests, time.monotonic() + args.seconds)
    started = time.monotonic()
    await asyncio.gather(*(worker(target, tally, args.until_failure) for _ in range(args.concurrency)))
    return {
        "requests": len(tally.records),
        "ok": tally.ok,
        "errors": dict(tally.errors),
        "seconds": time.monotonic() - started,
        "records": tally.records,
    }


def main() -> None:
    cli = argparse.ArgumentParser()
    cli.add_argument("url")
    cli.add_argument("body")
    cli.add_argument("expected")
    cli.add_argument("out", type=Path)
    cli.add_argument("--requests", type=int, default=10_000)
    cli.add_argument("--concurrency", type=int, default=16)
    cli.add_argument("--seconds", type=float, default=300, help="no request starts after this")
    cli.add_argument("--until-failure", action="store_true")
    args = cli.parse_args()
    args.out.write_text(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
