"""An HTTPS_PROXY for the tests: CONNECT tunnels to Azure's host names end at the local servers.

The route decides where each tunnel goes (Azurite, the stand-in, or, for any other host such as
a package index, the host itself). TLS stays end to end between the client and the server, as
through any corporate proxy; the local servers present the test certificate whose SANs cover
the Azure host names.
"""

from __future__ import annotations

import select
import socket
import socketserver
import threading
from collections.abc import Callable

Route = Callable[[str, int], tuple[str, int]]  # requested (host, port) -> where to connect


class _Tunnel(socketserver.BaseRequestHandler):
    route: Route
    hosts: list[str]

    def handle(self) -> None:
        self.request.settimeout(30)
        head = self._read_head()
        parts = head.split(b"\r\n", 1)[0].split()
        if len(parts) != 3 or parts[0] != b"CONNECT":
            self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = parts[1].decode().rpartition(":")
        self.hosts.append(host)
        try:
            upstream = socket.create_connection(self.route(host, int(port)), timeout=30)
        except (OSError, ValueError):
            self.request.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        with upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._pump(upstream)

    def _read_head(self) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = self.request.recv(4096)
            if not chunk:
                break
            data += chunk
        return data

    def _pump(self, upstream: socket.socket) -> None:
        sockets = [self.request, upstream]
        while True:
            readable, _, failed = select.select(sockets, [], sockets, 60)
            if failed or not readable:
                return
            for sock in readable:
                other = upstream if sock is self.request else self.request
                try:
                    data = sock.recv(65536)
                    if not data:
                        return
                    other.sendall(data)
                except OSError:
                    return


class ConnectProxy:
    """Listens on 127.0.0.1; `hosts` records every host a client tunnelled to."""

    def __init__(self, route: Route) -> None:
        self.hosts: list[str] = []
        handler = type("Tunnel", (_Tunnel,), {"route": staticmethod(route), "hosts": self.hosts})
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
