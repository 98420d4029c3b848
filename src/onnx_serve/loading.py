"""Loading the model, light on imports so that `python -m onnx_serve` can start it first.

    loading = load_in_background(settings)   # a Future[Predictor]; session creation releases the GIL,
    import uvicorn, ...                        # so the server's imports run meanwhile

`load_and_warm_up` is the whole of "ready": serve.json, session, tokenizer, one inference, and the
memory that loading freed given back.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING

from .settings import Settings

if TYPE_CHECKING:
    from .predictor import Predictor


def load_and_warm_up(settings: Settings, predictor: Predictor | None = None) -> Predictor:
    from .predictor import Predictor  # numpy, onnxruntime, tokenizers: imported in the loading thread
    from .runtime import release_free_memory

    predictor = predictor or Predictor.load(settings.model_dir, settings.threads)
    predictor.max_text_batch = settings.max_batch_size
    predictor.warm_up()
    release_free_memory()
    return predictor


def load_in_background(settings: Settings) -> Future[Predictor]:
    """Start loading; returns once the loading thread has imported its libraries and creates the session.

    Imports hold the GIL and session creation does not: importing one after the other, then creating
    the session while the caller imports the HTTP stack, puts the least on the path to ready.
    """
    future: Future[Predictor] = Future()
    imported = threading.Event()

    def load() -> None:
        try:
            from . import predictor  # noqa: F401
        finally:
            imported.set()
        try:
            future.set_result(load_and_warm_up(settings))
        except BaseException as e:
            future.set_exception(e)

    threading.Thread(target=load, name="onnx-serve-load", daemon=True).start()
    imported.wait()
    return future
