"""Run the app on uvicorn (httptools + uvloop when installed): one process, graceful on SIGTERM.

exit_code = serve(settings, load_in_background(settings))
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from concurrent.futures import Future

import uvicorn

from .app import create_app
from .predictor import Predictor
from .settings import Settings


class Server(uvicorn.Server):
    """uvicorn, minus re-raising SIGTERM after the graceful shutdown (a drained stop would exit 143)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(settings: Settings, predictor: Predictor | Future[Predictor] | None = None) -> int:
    """Serve until SIGTERM/SIGINT (then drain in-flight requests): 0, or 1 if the model cannot be served."""
    app = create_app(settings, predictor)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="auto",  # uvloop when installed
        http="auto",  # httptools when installed
        lifespan="on",
        log_config=None,  # keep the logging configured by __main__
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
