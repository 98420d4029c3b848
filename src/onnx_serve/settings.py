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
| ONNX_SERVE_API_KEYS             | (none: open)          | keys for `Authorization: Bearer`, comma or newline   |
| ONNX_SERVE_API_KEYS_FILE        | (none)                | a file of keys (a mounted Secret), re-read on change |
| ONNX_SERVE_METRICS_KEYED        | false                 | true: /metrics needs a key too                       |
| ONNX_SERVE_GRPC_PORT            | (none: no gRPC)       | serve the OIP over gRPC too (8081 by convention)     |

With a key configured, /predict, /score and every /v2/models route answer 401 without one; health,
server metadata and the API description stay open (probes carry no key).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .auth import parse_keys


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
    api_keys: tuple[str, ...] = field(default=(), repr=False)  # never in a log line
    api_keys_file: Path | None = None
    metrics_keyed: bool = False
    grpc_port: int = 0  # 0: HTTP only (the image has grpcio only when packaged with grpc: true)

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
            api_keys=parse_keys(environ.get("ONNX_SERVE_API_KEYS", "")),
            api_keys_file=_keys_file(environ.get("ONNX_SERVE_API_KEYS_FILE", "").strip()),
            metrics_keyed=_flag(environ, "ONNX_SERVE_METRICS_KEYED"),
            grpc_port=int(number("ONNX_SERVE_GRPC_PORT", 0, minimum=0)),
        )


def _keys_file(raw: str) -> Path | None:
    """The keys file, checked at start: a server meant to be guarded must not start open."""
    if not raw:
        return None
    try:
        keys = parse_keys(Path(raw).read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise SettingsError(f"ONNX_SERVE_API_KEYS_FILE={raw!r} cannot be read ({e}); mount the Secret there") from None
    if not keys:
        raise SettingsError(f"ONNX_SERVE_API_KEYS_FILE={raw!r} holds no key; put one key per line in it")
    return Path(raw)


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw not in ("", "true", "false", "1", "0"):
        raise SettingsError(f"{name}={raw!r} must be true or false")
    return raw in ("true", "1")
