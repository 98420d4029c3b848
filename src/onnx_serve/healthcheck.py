"""`python3 -m onnx_serve.healthcheck`: exit 0 iff GET /v2/health/ready on localhost:$PORT answers 200.

The image's HEALTHCHECK. Standard library only, so it starts fast.
"""

from __future__ import annotations

import http.client
import os
import sys


def healthy(port: int, timeout: float = 3.0) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/v2/health/ready")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def main() -> int:
    try:
        port = int(os.environ.get("PORT") or 8080)
    except ValueError:
        return 1
    return 0 if healthy(port) else 1


if __name__ == "__main__":
    sys.exit(main())
