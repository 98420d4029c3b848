"""The served model's lifecycle, transport-free: load and warm up, batch requests, stop.

    service = Service(settings, metrics)  # or Service(..., loading.load_in_background(settings))
    await service.start()                 # loading goes on in a thread; ready once warmed up
    await service.predict(body)           # the /predict answer, through the batcher
    await service.infer("wine", "3", body)  # the v2 answer (version None: the one served)
    await service.stop()

Readiness: `service.ready` turns true after the model is loaded and one warm-up inference ran (the
memory that loading freed is given back to the OS after that).
If loading fails, `service.failed` is set and `on_fatal` is called (the server then exits 1).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from . import protocol, v2
from .batching import Batcher
from .errors import RequestError
from .loading import load_and_warm_up
from .metrics import Metrics
from .predictor import Predictor
from .runtime import release_free_memory
from .settings import Settings

log = logging.getLogger("onnx_serve")


class Service:
    def __init__(
        self, settings: Settings, metrics: Metrics, source: Predictor | Future[Predictor] | None = None
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.source = source  # a loaded predictor (tests), one being loaded (the server), or None: load it
        self.predictor: Predictor | None = None
        self.batcher: Batcher | None = None
        self.ready = False
        self.failed = False
        self.on_fatal: Callable[[], None] = lambda: None
        self._loading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Begin loading in the background, so that liveness answers while the model loads."""
        self._loading = asyncio.get_running_loop().create_task(self._load(), name="onnx-serve-load")

    async def wait_ready(self) -> None:
        if self._loading is not None:
            await asyncio.shield(self._loading)

    async def stop(self) -> None:
        self.ready = False
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        if self.batcher is not None:
            await self.batcher.stop()

    async def _load(self) -> None:
        started = time.perf_counter()
        try:
            if isinstance(self.source, Future):
                predictor = await asyncio.wrap_future(self.source)
            else:
                predictor = await asyncio.to_thread(load_and_warm_up, self.settings, self.source)
        except Exception:
            log.exception("cannot serve the model in %s", self.settings.model_dir)
            self.failed = True
            self.on_fatal()
            return
        self.predictor = predictor
        self.batcher = self._batcher(predictor)
        self.batcher.start()
        self.metrics.model_loaded(predictor.spec, predictor.load_seconds)
        self.ready = True
        log.info(
            "ready: %s version %s (%s); session created in %.2fs, ready %.2fs after the server started",
            predictor.spec.name, predictor.spec.version, predictor.spec.task, predictor.load_seconds,
            time.perf_counter() - started,
        )  # fmt: skip
        # Ready answers first; then, in a thread, neither on the way to ready nor on a request's path: the
        # metric collectors are made and the heap that loading freed goes back to the OS (a few ms for a
        # small model, tens for a large one).
        await asyncio.to_thread(self._after_ready)

    def _after_ready(self) -> None:
        self.metrics.prepare()
        release_free_memory()

    def _batcher(self, predictor: Predictor) -> Batcher:
        settings = self.settings
        batcher = Batcher(
            predictor.run_batch,
            predictor.batch_key,
            max_batch_size=settings.max_batch_size,
            max_delay=settings.max_queue_delay_ms / 1000,
            max_queue_size=settings.max_queue_size,
            observe=self.metrics.observe_batch,
            work=lambda job: job.work,
        )
        self.metrics.track_queue(lambda: batcher.queued)
        return batcher

    # --- requests ---------------------------------------------------------------------------------

    def model(self, name: str | None = None, version: str | None = None) -> Predictor:
        """The predictor, if ready and (when given) called `name` at `version`."""
        spec = self.predictor.spec if self.predictor is not None else None
        if spec is not None and name is not None and name != spec.name:
            raise RequestError(f"model {name!r} not found; this server serves {spec.name!r}", 404)
        if spec is not None and version is not None and version != spec.version:
            raise RequestError(f"model {spec.name!r} has no version {version!r}; its versions: [{spec.version!r}]", 404)
        if not self.ready or self.predictor is None:
            raise RequestError("the model is not loaded yet; retry when /v2/health/ready answers 200", status=503)
        return self.predictor

    async def predict(self, body: Any) -> Any:
        predictor = self.model()
        return await self._answer(protocol.parse_predict(predictor, body, self.settings.max_request_items))

    async def infer(self, name: str, version: str | None, body: Any) -> Any:
        predictor = self.model(name, version)
        return await self._answer(v2.parse_infer(predictor, body, self.settings.max_request_items))

    async def _answer(self, call: protocol.Call) -> Any:
        assert self.batcher is not None
        return call.render(await self.batcher.submit(call.job))
