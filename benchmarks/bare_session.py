"""The floor for any server: a process that holds the same onnxruntime session and, for every byte a
client sends over a plain TCP connection, runs the pre-tokenized text once and sends one byte back.
No HTTP, no JSON, no tokenizer, no threads of its own: what is left of its c1 cost over a session.run
in the caller's own process is what crossing processes costs on this machine.

    server = BareSession(model_dir, "Containers are good")   # started, ready
    server.call()                                              # one run, seen from the client
    server.stop()

`python benchmarks/bare_session.py MODEL_DIR TEXT PORT` is the server side; it ends when the
connection closes.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


class BareSession:
    def __init__(self, model_dir: Path, text: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.process = subprocess.Popen(
            [sys.executable, __file__, str(model_dir), text, str(port)], stdout=subprocess.PIPE, text=True
        )
        if self.process.stdout is None or self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the bare session server did not start")
        self.connection = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def call(self) -> None:
        self.connection.sendall(b"r")
        if self.connection.recv(1) != b"r":
            raise RuntimeError("the bare session server went away")

    def stop(self) -> None:
        self.connection.close()
        self.process.wait(timeout=60)


def serve(model_dir: Path, text: str, port: int) -> None:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    sys.path.insert(0, str(ROOT / "src"))
    from onnx_serve.runtime import cpu_limit, session_options

    session = ort.InferenceSession(str(model_dir / "model.onnx"), session_options(cpu_limit()),
                                   providers=["CPUExecutionProvider"])  # fmt: skip
    ids = Tokenizer.from_file(str(model_dir / "tokenizer.json")).encode(text).ids
    feeds = {"input_ids": np.array([ids], dtype=np.int64)}
    session.run(None, feeds)
    with socket.create_server(("127.0.0.1", port)) as listener:
        print("ready", flush=True)
        connection, _ = listener.accept()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with connection:
            while connection.recv(1):  # one run per byte; b"" when the client closes
                session.run(None, feeds)
                connection.sendall(b"r")


if __name__ == "__main__":
    serve(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
