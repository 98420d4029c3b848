"""`python -m onnx_serve`: serve the model in $ONNX_SERVE_MODEL_DIR on 0.0.0.0:$PORT.

Exits 0 after SIGTERM/SIGINT (in-flight requests drained), 1 if the model cannot be served,
2 if a setting is invalid. The session is created while the tokenizer and the HTTP stack are imported.
"""

from __future__ import annotations

import logging
import os
import sys

# numpy's OpenBLAS starts a thread pool (one per CPU) and its buffers when numpy is imported: ~50 ms on
# the way to ready for a server that does no BLAS work (onnxruntime has its own threads). One thread,
# unless the deployment says otherwise. Set here, not in the package: the packager imports onnx_serve.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

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
