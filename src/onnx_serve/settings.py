"""The server's settings, read once from ONNX_SERVE_* environment variables.

| variable                        | default               | meaning                                              |
|---------------------------------|-----------------------|------------------------------------------------------|
| PORT                            | 8080                  | TCP port (all interfaces)                            |
| ONNX_SERVE_HOST                 | 0.0.0.0               | address to listen on                                 |
| ONNX_SERVE_MODEL_DIR            | /opt/onnx-serve/model | the model folder (serve.json, .onnx, tokenizer.json) |
| ONNX_SERVE_MAX_BATCH_SIZE       | 32                    | items coalesced into one session.run                 |
| ONNX_SERVE_MAX_QUEUE_DELAY_MS   | 0                     | wait for a batch to fill (0: take what is queued)    |
| ONNX_SERVE_MAX_QUEUE_SIZE       | 1024                  | items waiting before requests get 503                |
| ONNX_SERVE_MAX_REQUEST_ITEMS    | 1024                  | items (texts, rows) in one request, else 413         |
| ONNX_SERVE_MAX_BODY_BYTES       | 10485760              | request body size, else 413                          |
| ONNX_SERVE_THREADS              | the CPU quota         | onnxruntime intra-op threads                         |
| ONNX_SERVE_DRAIN_SECONDS        | 30                    | on SIGTERM, how long in-flight requests may finish   |
| ONNX_SERVE_LOG_LEVEL            | info                  | log level (access log at debug)                      |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class SettingsError(ValueError):
    """An environment variable has a value the server cannot use."""


@dataclass(frozen=True)
class Settings:
    model_dir: Path = Path("/opt/onnx-serve/model")
    host: str = "0.0.0.0"
    port: int = 8080
    max_batch_size: int = 32
    max_queue_delay_ms: float = 0.0
    max_queue_size: int = 1024
    max_request_items: int = 1024
    max_body_bytes: int = 10 * 1024 * 1024
    threads: int | None = None
    drain_seconds: int = 30
    log_level: str = "info"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        def number(name: str, default: float, cast: type = int, minimum: float = 1) -> float:
            raw = environ.get(name, "").strip()
            if not raw:
                return default
            try:
                value = cast(raw)
            except ValueError:
                raise SettingsError(f"{name}={raw!r} is not a number; unset it or give e.g. {default}") from None
            if value < minimum:
                raise SettingsError(f"{name}={raw!r} must be at least {minimum}")
            return float(value)

        threads = number("ONNX_SERVE_THREADS", 0)
        return cls(
            model_dir=Path(environ.get("ONNX_SERVE_MODEL_DIR") or cls.model_dir),
            host=environ.get("ONNX_SERVE_HOST") or cls.host,
            port=int(number("PORT", cls.port, minimum=0)),
            max_batch_size=int(number("ONNX_SERVE_MAX_BATCH_SIZE", cls.max_batch_size)),
            max_queue_delay_ms=number("ONNX_SERVE_MAX_QUEUE_DELAY_MS", cls.max_queue_delay_ms, float, minimum=0),
            max_queue_size=int(number("ONNX_SERVE_MAX_QUEUE_SIZE", cls.max_queue_size)),
            max_request_items=int(number("ONNX_SERVE_MAX_REQUEST_ITEMS", cls.max_request_items)),
            max_body_bytes=int(number("ONNX_SERVE_MAX_BODY_BYTES", cls.max_body_bytes)),
            threads=int(threads) or None,
            drain_seconds=int(number("ONNX_SERVE_DRAIN_SECONDS", cls.drain_seconds, minimum=0)),
            log_level=(environ.get("ONNX_SERVE_LOG_LEVEL") or cls.log_level).lower(),
        )
