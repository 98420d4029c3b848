"""Small JSON-over-HTTP helpers on the standard library (the runner talks to the container).

The container listens on the runner's loopback, so no proxy from the environment may stand between.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def request_json(method: str, url: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
    """(status, decoded JSON or text); raises OSError when nothing answers."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with DIRECT.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    return status, decode(raw)


def decode(raw: bytes) -> Any:
    """The decoded JSON of a body; its text when it is not JSON; None when empty."""
    try:
        return json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return raw.decode(errors="replace")
