"""Dynamic batching: concurrent requests share one session.run.

    batcher = Batcher(predictor.run_batch, predictor.batch_key, max_batch_size=32, work=len)
    batcher.start()                     # inside the event loop
    result = await batcher.submit(job)  # from any request handler
    await batcher.stop()

The oldest queued job opens a batch; queued jobs with the same key join it, oldest first, up to
max_batch_size items. With max_delay 0 a batch is whatever queued up while the previous one ran,
so a lone request never waits; except that when fewer items wait than the previous batch held (its
clients are sending their next requests right now), the batcher waits up to a tenth of that batch's
run time for them: without it, a steady load of 8 clients alternates batches of 1 and 7.
A failing batch is retried job by job, so that one bad job fails alone.

A batch runs in a worker thread, so that the event loop keeps answering (health, metrics, other
requests) while the model runs; except a batch expected to take at most INLINE_SECONDS, which runs
on the loop itself: two thread hops cost more than it blocks the loop (0.1-0.3 ms on a 2-CPU VM
whose CPUs idled, and 10-25% of the throughput of a small model). The expectation is the batch's
`work` (what its run time grows with: items x longest text, rows x features) times the seconds per
unit of work of the last batch of its kind: the first batch of a kind, and a long one, go to the thread.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .errors import RequestError

log = logging.getLogger("onnx_serve")

FOLLOW_UP_WAIT = 0.1  # of the previous batch's run time
INLINE_SECONDS = 0.05  # a run expected to be this short runs on the event loop: no probe notices
RunBatch = Callable[[Sequence[Any]], list[Any]]
Observer = Callable[[int, float], None]  # (items in the batch, seconds it took)


@dataclass
class _Pending:
    job: Any
    key: Hashable
    size: int
    future: asyncio.Future[Any]


class Batcher:
    def __init__(
        self,
        run_batch: RunBatch,
        key: Callable[[Any], Hashable],
        max_batch_size: int = 32,
        max_delay: float = 0.0,
        max_queue_size: int = 1024,
        observe: Observer | None = None,
        work: Callable[[Any], float] = len,
    ) -> None:
        self.run_batch = run_batch
        self.key = key
        self.max_batch_size = max_batch_size
        self.max_delay = max_delay
        self.max_queue_size = max_queue_size
        self.observe = observe
        self.work = work
        self.queued = 0  # items waiting, for the queue-depth gauge
        self._last = (0, 0.0)  # the previous batch: items, seconds
        self._seconds_per_work: dict[type, float] = {}  # by the type of job, from its last batch
        self._runs: list[tuple[int, float]] = []  # (items, seconds) of the runs not yet observed
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx-serve-inference")
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._work(), name="onnx-serve-batcher")

    async def stop(self) -> None:
        """Stop taking batches; jobs still queued fail with 503."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        for pending in self._queue:
            if not pending.future.done():
                pending.future.set_exception(RequestError("the server is shutting down", status=503))
        self._queue.clear()
        self._executor.shutdown(wait=True)

    async def submit(self, job: Any) -> Any:
        size = len(job)
        if self.queued + size > self.max_queue_size:
            raise RequestError(f"the server is busy ({self.queued} items queued); retry later", status=503)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(job, self.key(job), size, future))
        self.queued += size
        self._wakeup.set()
        return await future

    async def _work(self) -> None:
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self.max_delay > 0:
                await self._wait_to_fill(self.max_batch_size, self.max_delay)
            elif self.queued < self._last[0]:
                await self._wait_to_fill(self._last[0], self._last[1] * FOLLOW_UP_WAIT)
            batch = self._take()
            if batch:
                await self._run(batch)

    async def _wait_to_fill(self, items: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.queued < min(items, self.max_batch_size) and (remaining := deadline - time.monotonic()) > 0:
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Pending]:
        """The oldest job and the queued jobs that can share its session.run."""
        first, size = self._queue[0], 0
        batch: list[_Pending] = []
        rest: list[_Pending] = []
        for pending in self._queue:
            if pending.future.done():  # cancelled: the client went away
                self.queued -= pending.size
            elif pending.key == first.key and (not batch or size + pending.size <= self.max_batch_size):
                batch.append(pending)
                size += pending.size
            else:
                rest.append(pending)
        self._queue = rest
        self.queued -= size
        return batch

    async def _run(self, batch: list[_Pending]) -> None:
        kind, work = type(batch[0].job), sum(self.work(pending.job) for pending in batch)
        started = time.monotonic()
        if work * self._seconds_per_work.get(kind, math.inf) <= INLINE_SECONDS:
            _answer(batch, self._outcomes([pending.job for pending in batch]))
        else:
            await self._run_in_thread(batch)
        seconds = time.monotonic() - started
        self._last = (sum(pending.size for pending in batch), seconds)
        self._seconds_per_work[kind] = seconds / max(work, 1)
        await asyncio.sleep(0)  # the answered requests write their responses before the runs are observed
        runs, self._runs = self._runs, []
        if self.observe is not None:
            for items, run_seconds in runs:
                self.observe(items, run_seconds)

    async def _run_in_thread(self, batch: list[_Pending]) -> None:
        """Its callers are answered from the thread's one callback into the loop (not after this task
        resumes: one loop turn less between the model and the answer)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._executor.submit(self._run_and_answer, loop, batch, done)
        await done

    def _run_and_answer(
        self, loop: asyncio.AbstractEventLoop, batch: list[_Pending], done: asyncio.Future[None]
    ) -> None:
        """In the worker thread: run, then hand the outcomes to the loop in one call."""
        loop.call_soon_threadsafe(_answer, batch, self._outcomes([pending.job for pending in batch]), done)

    def _outcomes(self, jobs: list[Any]) -> list[tuple[bool, Any]]:
        try:
            return self._run_isolated(jobs)
        except BaseException as e:  # _run_isolated catches Exception; this is a bug or an interpreter exit
            return [(False, e)] * len(jobs)

    def _run_isolated(self, jobs: list[Any]) -> list[tuple[bool, Any]]:
        """(ok, result or exception) per job."""
        started = time.perf_counter()
        try:
            results = self.run_batch(jobs)
        except Exception as e:
            if len(jobs) > 1:
                return [self._run_isolated([job])[0] for job in jobs]
            if not isinstance(e, RequestError):
                log.exception("inference failed")
            return [(False, e)]
        self._runs.append((sum(len(job) for job in jobs), time.perf_counter() - started))
        return [(True, result) for result in results]


def _answer(batch: list[_Pending], outcomes: list[tuple[bool, Any]], done: asyncio.Future[None] | None = None) -> None:
    """In the loop: each caller's result or exception (callers that went away are skipped), then `done`."""
    for pending, (ok, value) in zip(batch, outcomes, strict=True):
        if pending.future.done():
            continue
        if ok:
            pending.future.set_result(value)
        else:
            pending.future.set_exception(value)
    if done is not None and not done.done():  # the batcher task may have been cancelled meanwhile (stop)
        done.set_result(None)
