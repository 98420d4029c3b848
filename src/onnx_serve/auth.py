"""Optional API keys: who may call the model, checked on every scoring and model route.

    keys = ApiKeys(settings.api_keys, settings.api_keys_file)
    keys.enabled                              # False when no key is configured: every route is open
    keys.allows(request.headers.get("authorization"))   # "Bearer <key>", compared in constant time

Keys come from the environment (ONNX_SERVE_API_KEYS) or a mounted file (ONNX_SERVE_API_KEYS_FILE, e.g.
a Kubernetes Secret), never from the image. The file is re-read when it changes (one stat per request),
so a rotated Secret takes effect without a restart; two keys at once let clients move over.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
from pathlib import Path

from .errors import RequestError

log = logging.getLogger("onnx_serve")

REALM = 'Bearer realm="onnx-serve"'
_SEPARATORS = re.compile(r"[,\s]+")


def parse_keys(text: str) -> tuple[str, ...]:
    """Keys separated by commas, spaces or newlines (a file may end with a newline)."""
    return tuple(key for key in _SEPARATORS.split(text) if key)


class ApiKeys:
    def __init__(self, keys: tuple[str, ...] = (), file: Path | None = None) -> None:
        self._fixed = tuple(key.encode("utf-8") for key in keys)
        self._file = file
        self._file_state: tuple[int, int, int] | None = None
        self._from_file: tuple[bytes, ...] = ()
        if keys:
            log.info("API keys: %d from ONNX_SERVE_API_KEYS", len(keys))
        self._refresh()

    @property
    def enabled(self) -> bool:
        return bool(self._fixed) or self._file is not None

    def allows(self, authorization: str | None) -> bool:
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return False
        self._refresh()
        candidate = given.strip().encode("utf-8")
        matched = False
        for key in self._fixed + self._from_file:  # every key compared: the time says nothing about which
            matched |= hmac.compare_digest(candidate, key)
        return matched

    def require(self, authorization: str | None) -> None:
        """Raise a 401 unless keys are off or `authorization` carries one of them."""
        if self.enabled and not self.allows(authorization):
            raise Unauthorized(authorization)

    def _refresh(self) -> None:
        """Re-read the file when its inode, size or time changed; keep the last keys if it cannot be read."""
        if self._file is None:
            return
        try:
            stat = os.stat(self._file)
            state = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
            if state != self._file_state:
                self._from_file = tuple(k.encode("utf-8") for k in parse_keys(self._file.read_text("utf-8")))
                self._file_state = state
                log.info("API keys: %d read from %s", len(self._from_file), self._file)
        except (OSError, UnicodeDecodeError) as e:
            log.warning("API keys: cannot re-read %s (%s); the keys read before stay in force", self._file, e)


class Unauthorized(RequestError):
    """401 with the WWW-Authenticate challenge (RFC 6750): no key, or not one of the configured keys."""

    def __init__(self, authorization: str | None) -> None:
        if authorization:
            message = "the API key is not valid: send Authorization: Bearer <one of the server's keys>"
            challenge = f'{REALM}, error="invalid_token"'
        else:
            message = "this server needs an API key: send Authorization: Bearer <key>"
            challenge = REALM
        super().__init__(message, status=401, headers={"WWW-Authenticate": challenge})
