"""`python -m onnx_serve`: serve the model in $ONNX_SERVE_MODEL_DIR on 0.0.0.0:$PORT.

Exits 0 after SIGTERM/SIGINT (in-flight requests drained), 1 if the model cannot be served,
2 if a setting is invalid. The model starts loading before the HTTP stack is imported.
"""

from __future__ import annotations

import logging
import sys

from .loading import load_in_background
from .settings import Settings, SettingsError


def main() -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as e:
        print(f"onnx-serve: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    loading = load_in_background(settings)
    from .server import serve  # the HTTP stack's imports overlap the session creation

    return serve(settings, loading)


if __name__ == "__main__":
    sys.exit(main())
