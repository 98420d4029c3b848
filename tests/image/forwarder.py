"""A byte forwarder between a listening socket and an address, for tests that move the tool elsewhere.

`serve(listener, connect)` accepts until the listener is closed; each connection is copied both ways
(with half-close, which the Docker API's attach and exec streams rely on). Run as a script, it is the
tool's side of a remote engine (see test_remote_engine.py): inside a fresh network namespace it brings
up the loopback, listens on 127.0.0.1 for the engine (to the host's Docker socket, given with --engine)
and for each registry (to a unix socket the test serves on the host), then runs the onnx-package CLI
(with DOCKER_HOST=tcp://127.0.0.1:<port> when --engine is given) and exits with its code.

    python forwarder.py [--engine /var/run/docker.sock] --forward 5000=/tmp/registry.sock -- CLI ARGS...
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable


def copy(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the other side went away: the connection ends


def relay(client: socket.socket, connect: Callable[[], socket.socket]) -> None:
    with client:
        try:
            upstream = connect()
        except OSError:
            return
        with upstream:
            back = threading.Thread(target=copy, args=(upstream, client), daemon=True)
            back.start()
            copy(client, upstream)
            back.join()


def serve(listener: socket.socket, connect: Callable[[], socket.socket]) -> threading.Thread:
    """Forward every connection `listener` accepts to a fresh `connect()`, until the listener is closed."""

    def accept_loop() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=relay, args=(client, connect), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    return thread


def to_unix(path: str) -> Callable[[], socket.socket]:
    def connect() -> socket.socket:
        upstream = socket.socket(socket.AF_UNIX)
        upstream.connect(path)
        return upstream

    return connect


def loopback_listener(port: int = 0) -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    return listener


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--engine",
        help="serve this unix socket as DOCKER_HOST=tcp://127.0.0.1:<port>; without "
        "it the CLI uses the default socket, from another network namespace",
    )
    parser.add_argument("--forward", action="append", default=[], help="PORT=UNIX_SOCKET")
    parser.add_argument("cli", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    environ = dict(os.environ)
    if options.engine:
        engine = loopback_listener()
        serve(engine, to_unix(options.engine))
        environ["DOCKER_HOST"] = f"tcp://127.0.0.1:{engine.getsockname()[1]}"
    for spec in options.forward:
        port, _, path = spec.partition("=")
        serve(loopback_listener(int(port)), to_unix(path))
    cli = [arg for arg in options.cli if arg != "--"]
    return subprocess.run([sys.executable, "-m", "onnx_package.cli", *cli], env=environ, timeout=900).returncode


if __name__ == "__main__":
    sys.exit(main())
