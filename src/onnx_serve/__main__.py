"""`python -m onnx_serve`: serve the model in $ONNX_SERVE_MODEL_DIR on 0.0.0.0:$PORT.

Exits 0 after SIGTERM/SIGINT (in-flight requests drained), 1 if the model cannot be served,
2 if a setting is invalid.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from collections.abc import Iterator

import uvicorn

from .app import create_app
from .settings import Settings, SettingsError


class Server(uvicorn.Server):
    """uvicorn, minus re-raising SIGTERM after the graceful shutdown (that would make a drained stop exit 143)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def main() -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as e:
        print(f"onnx-serve: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="auto",  # uvloop when installed
        http="auto",  # httptools when installed
        lifespan="on",
        log_config=None,  # keep the logging configured above
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
        timeout_graceful_shutdown=settings.drain_seconds,
        server_header=False,
    )
    server = Server(config)
    service = app.state.service
    service.on_fatal = lambda: setattr(server, "should_exit", True)
    server.run()
    return 1 if service.failed else 0


if __name__ == "__main__":
    sys.exit(main())
