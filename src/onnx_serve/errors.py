"""The one exception a request can fail with.

`RequestError` carries the HTTP status; the app turns it into `{"error": "..."}` with that status.
Everything a client can get wrong (JSON, shapes, dtypes, sizes, names) raises it with a 4xx status.
"""

from __future__ import annotations


class RequestError(Exception):
    """A request the server cannot answer, with the HTTP status that says why."""

    def __init__(self, message: str, status: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = headers  # e.g. WWW-Authenticate on a 401, Allow on a 405
