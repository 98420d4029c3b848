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

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .spec import ServeSpec

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        self.requests = Counter(
            "onnx_serve_requests", "HTTP requests answered", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "onnx_serve_request_duration_seconds", "HTTP request latency", ["route"],
            buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.batch_size = Histogram(
            "onnx_serve_batch_size", "Items per session.run", buckets=BATCH_BUCKETS, registry=registry
        )
        self.inference = Histogram(
            "onnx_serve_inference_duration_seconds", "Time of one batch: tokenization and session.run",
            buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.queue_depth = Gauge("onnx_serve_queue_depth", "Items waiting for inference", registry=registry)
        self.model_load = Gauge("onnx_serve_model_load_seconds", "Model load and warm-up time", registry=registry)
        self.model_info = Gauge(
            "onnx_serve_model_info", "The served model", ["name", "version", "sha256", "task"], registry=registry
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_batch(self, items: int, seconds: float) -> None:
        self.batch_size.observe(items)
        self.inference.observe(seconds)

    def track_queue(self, depth: Callable[[], float]) -> None:
        self.queue_depth.set_function(depth)

    def model_loaded(self, spec: ServeSpec, seconds: float) -> None:
        self.model_load.set(seconds)
        self.model_info.labels(spec.name, spec.version, spec.sha256, spec.task).set(1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
