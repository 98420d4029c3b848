"""Batcher: coalescing, limits, keys, failure isolation, queue bounds, shutdown (no model needed)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from onnx_serve.batching import Batcher
from onnx_serve.errors import RequestError

pytestmark = pytest.mark.anyio


class Recorder:
    """A run_batch that records each batch (list of jobs) and takes `seconds` per batch."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds, self.batches, self.threads = seconds, [], set()

    def __call__(self, jobs):
        self.batches.append(list(jobs))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.seconds)
        for job in jobs:
            if any("bad" in item for item in job):
                raise ValueError(f"bad job {job}")
        return [[item.upper() for item in job] for job in jobs]


async def started(recorder, **options) -> Batcher:
    batcher = Batcher(recorder, key=lambda job: job[0][0], **options)
    batcher.start()
    return batcher


async def test_a_lone_job_runs_at_once_in_the_worker_thread():
    recorder = Recorder()
    batcher = await started(recorder, max_delay=0)
    assert await batcher.submit(["a"]) == ["A"]
    await batcher.stop()
    assert recorder.batches == [[["a"]]] and recorder.threads == {"onnx-serve-inference_0"}


async def test_a_batch_expected_to_be_short_runs_on_the_loop_a_longer_one_in_the_thread():
    threads: list[str] = []

    def run_batch(jobs):  # 10 ms per item
        threads.append(threading.current_thread().name)
        time.sleep(0.01 * sum(map(len, jobs)))
        return list(jobs)

    batcher = Batcher(run_batch, key=len)
    batcher.start()
    await batcher.submit(["a"])  # the first of its kind: nothing to expect yet, so the thread
    await batcher.submit(["a"])  # 10 ms expected: the loop
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    ticker = asyncio.ensure_future(tick())
    await batcher.submit(["a"] * 10)  # 100 ms expected, over INLINE_SECONDS: the thread, the loop ticks on
    during = ticks
    ticker.cancel()
    await batcher.stop()
    loop_thread = threading.current_thread().name
    assert threads == ["onnx-serve-inference_0", loop_thread, "onnx-serve-inference_0"]
    assert during >= 10  # the loop was not blocked for the 100 ms run


async def test_jobs_queued_while_a_batch_runs_share_the_next_one():
    recorder = Recorder(seconds=0.05)
    batcher = await started(recorder, max_batch_size=4)
    first = asyncio.ensure_future(batcher.submit(["a0"]))
    await asyncio.sleep(0.01)  # the first batch is running
    rest = [asyncio.ensure_future(batcher.submit([f"a{i}", f"a{i}"])) for i in range(1, 5)]
    results = await asyncio.gather(first, *rest)
    await batcher.stop()
    assert results == [["A0"], *[[f"A{i}"] * 2 for i in range(1, 5)]]
    sizes = [sum(len(job) for job in batch) for batch in recorder.batches]
    assert sizes == [1, 4, 4]  # 2 jobs of 2 items each time: max_batch_size is in items


async def test_a_job_larger_than_the_batch_runs_alone():
    recorder = Recorder()
    batcher = await started(recorder, max_batch_size=2)
    assert await batcher.submit(["a"] * 5) == ["A"] * 5
    await batcher.stop()


async def test_jobs_with_different_keys_never_share_a_batch():
    recorder = Recorder(seconds=0.02)
    batcher = await started(recorder)
    blocker = asyncio.ensure_future(batcher.submit(["z"]))
    await asyncio.sleep(0.005)
    jobs = [["a1"], ["b1"], ["a2"], ["b2"]]
    results = await asyncio.gather(blocker, *(batcher.submit(job) for job in jobs))
    await batcher.stop()
    assert results[1:] == [["A1"], ["B1"], ["A2"], ["B2"]]
    assert recorder.batches[1:] == [[["a1"], ["a2"]], [["b1"], ["b2"]]]  # oldest first, same key together


async def test_max_delay_waits_for_a_batch_to_fill():
    recorder = Recorder()
    batcher = await started(recorder, max_delay=0.2, max_batch_size=3)
    tasks = []
    for i in range(3):
        tasks.append(asyncio.ensure_future(batcher.submit([f"a{i}"])))
        await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    await batcher.stop()
    assert len(recorder.batches) == 1  # full before the delay ran out: no need to wait longer


async def test_one_bad_job_fails_alone():
    recorder = Recorder(seconds=0.02)
    batcher = await started(recorder)
    blocker = asyncio.ensure_future(batcher.submit(["a0"]))
    await asyncio.sleep(0.005)
    results = await asyncio.gather(
        blocker, batcher.submit(["a1"]), batcher.submit(["a-bad"]), batcher.submit(["a2"]), return_exceptions=True
    )
    await batcher.stop()
    assert results[:2] == [["A0"], ["A1"]] and results[3] == ["A2"]
    assert isinstance(results[2], ValueError)


async def test_a_full_queue_answers_503():
    recorder = Recorder(seconds=0.05)
    batcher = await started(recorder, max_queue_size=3)
    running = asyncio.ensure_future(batcher.submit(["a"]))
    await asyncio.sleep(0.01)
    queued = asyncio.ensure_future(batcher.submit(["a", "a", "a"]))
    await asyncio.sleep(0)
    with pytest.raises(RequestError, match="busy") as caught:
        await batcher.submit(["a"])
    assert caught.value.status == 503
    await asyncio.gather(running, queued)
    await batcher.stop()


async def test_cancelled_jobs_are_dropped_and_stop_fails_what_is_left():
    recorder = Recorder(seconds=0.05)
    batcher = await started(recorder)
    running = asyncio.ensure_future(batcher.submit(["a"]))
    await asyncio.sleep(0.01)
    gone = asyncio.ensure_future(batcher.submit(["a-gone"]))
    await asyncio.sleep(0)
    gone.cancel()
    await running
    await asyncio.sleep(0.01)
    assert all(["a-gone"] not in batch for batch in recorder.batches) and batcher.queued == 0
    blocked = Batcher(recorder, key=lambda job: 0)  # never started: its queue is never taken
    waiting = asyncio.ensure_future(blocked.submit(["a"]))
    await asyncio.sleep(0)
    await blocked.stop()
    with pytest.raises(RequestError, match="shutting down"):
        await waiting
    await batcher.stop()


async def test_after_a_batch_the_batcher_briefly_waits_for_its_clients_to_come_back():
    recorder = Recorder(seconds=0.1)
    batcher = await started(recorder)
    blocker = asyncio.ensure_future(batcher.submit(["a"]))
    await asyncio.sleep(0.02)
    await asyncio.gather(blocker, *(batcher.submit([f"a{i}"]) for i in range(4)))  # a batch of 4
    first = asyncio.ensure_future(batcher.submit(["b0"]))
    await asyncio.sleep(0.003)  # well within a tenth of the last batch's 0.1 s
    await asyncio.gather(first, *(batcher.submit([f"b{i}"]) for i in range(1, 4)))
    await batcher.stop()
    assert [len(batch) for batch in recorder.batches] == [1, 4, 4]


async def test_the_callers_are_answered_before_the_run_is_observed():
    order: list[str] = []
    batcher = Batcher(list, key=len, observe=lambda items, seconds: order.append(f"observed {items}"))
    batcher.start()
    for _ in range(2):  # the first run in the thread, the second on the loop
        await batcher.submit(["a"])
        order.append("answered")
    await asyncio.sleep(0.01)
    await batcher.stop()
    assert order == ["answered", "observed 1"] * 2
