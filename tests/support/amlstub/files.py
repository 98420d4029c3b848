"""A small HTTPS file server for the url source: files by path, injectable failures, a request log."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from .certs import Certs
from .server import HttpsServer


@dataclass
class Files:
    files: dict[str, bytes] = field(default_factory=dict)
    failures: list[int] = field(default_factory=list)  # statuses answered to the next requests, in order
    truncate_next: int = 0  # how many next answers stop halfway
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reset(self) -> None:
        with self.lock:
            self.files.clear()
            self.failures.clear()
            self.requests.clear()
            self.truncate_next = 0


class FileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    store: Files

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        with self.store.lock:
            self.store.requests.append(self.path)
            status = self.store.failures.pop(0) if self.store.failures else None
            if status is None and path not in self.store.files:
                status = 404
            truncate = status is None and self.store.truncate_next > 0
            self.store.truncate_next -= int(truncate)
        if status is not None:
            self._reply(status, b"failure\n")
            return
        data = self.store.files[path]
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2] if truncate else data)
        if truncate:
            self.close_connection = True

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def start_file_server(store: Files, certs: Certs) -> HttpsServer:
    return HttpsServer(type("Files", (FileHandler,), {"store": store}), certs)
