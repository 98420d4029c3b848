"""Loading the model, light on imports so that `python -m onnx_serve` can start it first.

    loading = load_in_background(settings)   # a Future[Predictor]; returns once onnxruntime is imported
    import uvicorn, tokenizers, ...            # and the session being created (which releases the GIL),
                                               # so the rest of the imports run meanwhile

`load_and_warm_up` is the whole of "ready": serve.json, session, tokenizer and one inference. The heap
that loading freed is given back (`runtime.release_free_memory`) once the server answers ready.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING

from .settings import Settings

if TYPE_CHECKING:
    from .predictor import Predictor


def load_and_warm_up(settings: Settings, predictor: Predictor | None = None) -> Predictor:
    from .predictor import Predictor  # numpy, onnxruntime, tokenizers: imported in the loading thread

    predictor = predictor or Predictor.load(settings.model_dir, settings.threads)
    predictor.max_text_batch = settings.max_batch_size
    predictor.warm_up()
    return predictor


def load_in_background(settings: Settings) -> Future[Predictor]:
    """Start loading; returns once the loading thread has imported onnxruntime and creates the session.

    Imports hold the GIL and session creation does not: the thread imports only what the session needs
    (onnxruntime, numpy), then creates it while the caller imports the tokenizer and the HTTP stack; the
    tokenizer is loaded and the warm-up run after the session exists.
    """
    future: Future[Predictor] = Future()
    imported = threading.Event()

    def load() -> None:
        try:
            try:
                from .runtime import open_model
            finally:
                imported.set()
            started = time.perf_counter()  # load_seconds: serve.json, session and tokenizer, as Predictor.load
            spec, session = open_model(settings.model_dir, settings.threads)
            from .predictor import Predictor  # by now mostly imported by the caller

            predictor = Predictor.opened(settings.model_dir, spec, session, started)
            future.set_result(load_and_warm_up(settings, predictor))
        except BaseException as e:
            future.set_exception(e)

    threading.Thread(target=load, name="onnx-serve-load", daemon=True).start()
    imported.wait()
    return future
