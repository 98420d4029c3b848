"""A loopback HTTP proxy in front of one registry: injects faults, counts the bytes that pass.

    with FaultProxy("http://127.0.0.1:5000") as proxy:
        proxy.inject("429", r"^POST /v2/.*/blobs/uploads/")    # the next upload start is rate limited
        proxy.inject("reset", r"^GET /v2/$", times=2)          # the next two pings are cut
        ... push to proxy.host ...
        proxy.uploaded                        # request body bytes that reached the registry

Faults: "500" (plain text, like a load balancer), "429" (Retry-After and the registry's
TOOMANYREQUESTS error), "reset" (the connection is cut with a TCP RST before the request is read).
`routes` serve some paths locally instead (the ACR stand-in's /oauth2/ endpoints, or a whole
stub registry in unit tests). With `tls`, the
proxy speaks HTTPS and tells the registry so (X-Forwarded-Proto), as a real front end does.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import ssl
import struct
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "date",
    "server",
}
CHUNK = 1 << 16

Route = Callable[["ProxyHandler"], None]


@dataclass
class Fault:
    kind: str  # "500" | "429" | "reset"
    match: re.Pattern[str]  # searched in "METHOD /path?query"
    times: int


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        tls: tuple[Path, Path] | None = None,
        routes: dict[str, Route] | None = None,
        retry_after: int = 1,
    ) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.routes = routes or {}
        self.retry_after = retry_after
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.served_faults: list[tuple[str, str, str]] = []  # (kind, method, path)
        self.requests: Counter[str] = Counter()  # "METHOD" -> count (forwarded to the registry)
        self.body_bytes: Counter[str] = Counter()  # "METHOD" -> request body bytes forwarded
        self.forwarded: list[tuple[str, str, list[int]]] = []  # (METHOD, path, [body bytes]) per request
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), ProxyHandler)
        self.server.daemon_threads = True
        self.server.proxy = self  # type: ignore[attr-defined]
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def uploaded(self) -> int:
        """Request body bytes forwarded to the registry (blob uploads, manifests)."""
        return sum(self.body_bytes[method] for method in ("POST", "PUT", "PATCH"))

    def inject(self, kind: str, match: str = r"^\w+ /v2/", times: int = 1) -> None:
        """The next `times` requests whose "METHOD /path?query" matches `match` (a regex) fail with `kind`."""
        assert kind in ("500", "429", "reset"), kind
        with self.lock:
            self.faults.append(Fault(kind, re.compile(match), times))

    @property
    def pending(self) -> list[Fault]:
        return [fault for fault in self.faults if fault.times > 0]

    def next_fault(self, method: str, path: str) -> str | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.match.search(f"{method} {path}"):
                    fault.times -= 1
                    self.served_faults.append((fault.kind, method, path))
                    return fault.kind
        return None

    def reset_counters(self) -> None:
        with self.lock:
            self.requests.clear()
            self.body_bytes.clear()
            self.forwarded.clear()

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError, TimeoutError):  # the client went away (the engine does)
            super().handle()

    @property
    def proxy(self) -> FaultProxy:
        return self.server.proxy  # type: ignore[no-any-return]

    def do_any(self) -> None:
        fault = self.proxy.next_fault(self.command, self.path)
        route = next((r for prefix, r in self.proxy.routes.items() if self.path.startswith(prefix)), None)
        if fault == "reset":
            self.reset()
        elif fault:
            self.drain()
            self.fail(fault)
        elif route:
            route(self)
        else:
            self.forward()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_any

    # ------------------------------------------------------------ faults

    def reset(self) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def fail(self, kind: str) -> None:
        if kind == "429":
            body = json.dumps({"errors": [{"code": "TOOMANYREQUESTS", "message": "injected: slow down"}]}).encode()
            headers = {"Content-Type": "application/json", "Retry-After": str(self.proxy.retry_after)}
            self.reply(429, body, headers)
        else:
            self.reply(500, b"injected fault\n", {"Content-Type": "text/plain"})

    def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    # ------------------------------------------------------------ the request body

    def body(self) -> Iterator[bytes]:
        """The request body, de-chunked when it came chunked."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                yield self.rfile.read(size)
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                data = self.rfile.read(min(CHUNK, left))
                if not data:
                    return
                left -= len(data)
                yield data

    def drain(self) -> None:
        for _ in self.body():
            pass

    def read_body(self) -> bytes:
        return b"".join(self.body())

    # ------------------------------------------------------------ forwarding

    def counted(self, chunks: Iterator[bytes], entry: list[int]) -> Iterator[bytes]:
        for data in chunks:
            with self.proxy.lock:
                self.proxy.body_bytes[self.command] += len(data)
                entry[0] += len(data)
            yield data

    def forward(self) -> None:
        proxy = self.proxy
        sent = [0]
        with proxy.lock:
            proxy.requests[self.command] += 1
            proxy.forwarded.append((self.command, self.path, sent))
        upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=300)
        headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
        if proxy.scheme == "https":
            headers["X-Forwarded-Proto"] = "https"
        has_body = "Content-Length" in self.headers or "Transfer-Encoding" in self.headers
        try:
            if has_body:
                upstream.request(
                    self.command, self.path, body=self.counted(self.body(), sent), headers=headers, encode_chunked=True
                )
            else:
                upstream.request(self.command, self.path, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        length = answer.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
        self.send_header("Content-Length", length or "0")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
