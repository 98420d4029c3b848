"""Prometheus metrics of one server process, in a registry of their own (GET /metrics).

    onnx_serve_requests_total{method, route, status}     HTTP requests answered
    onnx_serve_request_duration_seconds{route}           latency histogram
    onnx_serve_batch_size                                items per session.run
    onnx_serve_inference_duration_seconds                time of one batch (tokenize + session.run)
    onnx_serve_queue_depth                               items waiting for inference
    onnx_serve_model_load_seconds                        serve.json + session + tokenizer + warm-up
    onnx_serve_model_info{name, version, sha256, task}   1
plus the process collector (RSS, CPU seconds, open fds).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from .spec import ServeSpec

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """The metrics, their collectors made on first use: prometheus_client is not imported on the way to
    ready. The server makes them right after ready, in a thread (`prepare`), so that no request pays for it:
    the first batch's observation would otherwise import it in the inference thread, before that batch's
    callers are answered."""

    def __init__(self) -> None:
        self._queue_depth: Callable[[], float] | None = None
        self._model: tuple[ServeSpec, float] | None = None

    @functools.cached_property
    def _collectors(self) -> _Collectors:
        collectors = _Collectors()
        if self._queue_depth is not None:
            collectors.queue_depth.set_function(self._queue_depth)
        if self._model is not None:
            collectors.model_loaded(*self._model)
        return collectors

    def prepare(self) -> None:
        """Make the collectors now (importing prometheus_client), off every request's path."""
        self._collectors  # noqa: B018 (the cached property made)

    @property
    def registry(self) -> CollectorRegistry:
        return self._collectors.registry

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        collectors = self._collectors
        collectors.requests.labels(method, route, str(status)).inc()
        collectors.latency.labels(route).observe(seconds)

    def observe_batch(self, items: int, seconds: float) -> None:
        collectors = self._collectors
        collectors.batch_size.observe(items)
        collectors.inference.observe(seconds)

    def track_queue(self, depth: Callable[[], float]) -> None:
        self._queue_depth = depth
        if "_collectors" in self.__dict__:
            self._collectors.queue_depth.set_function(depth)

    def model_loaded(self, spec: ServeSpec, seconds: float) -> None:
        self._model = (spec, seconds)
        if "_collectors" in self.__dict__:
            self._collectors.model_loaded(spec, seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The text format of every metric, and its content type."""
        from prometheus_client import generate_latest
        from prometheus_client.exposition import CONTENT_TYPE_LATEST

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _Collectors:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        self.requests: Counter = Counter(
            "onnx_serve_requests", "HTTP requests answered", ["method", "route", "status"], registry=registry
        )
        self.latency: Histogram = Histogram(
            "onnx_serve_request_duration_seconds", "HTTP request latency", ["route"],
            buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.batch_size: Histogram = Histogram(
            "onnx_serve_batch_size", "Items per session.run", buckets=BATCH_BUCKETS, registry=registry
        )
        self.inference: Histogram = Histogram(
            "onnx_serve_inference_duration_seconds", "Time of one batch: tokenization and session.run",
            buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.queue_depth: Gauge = Gauge("onnx_serve_queue_depth", "Items waiting for inference", registry=registry)
        self.model_load: Gauge = Gauge(
            "onnx_serve_model_load_seconds", "Model load and warm-up time", registry=registry
        )
        self.model_info: Gauge = Gauge(
            "onnx_serve_model_info", "The served model", ["name", "version", "sha256", "task"], registry=registry
        )

    def model_loaded(self, spec: ServeSpec, seconds: float) -> None:
        self.model_load.set(seconds)
        self.model_info.labels(spec.name, spec.version, spec.sha256, spec.task).set(1)
