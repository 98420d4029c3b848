"""The HTTP edge: Starlette routes that parse JSON and delegate to `Service`.

    app = create_app(Settings.from_env())          # loads the model once started
    app = create_app(settings, loading)            # `python -m onnx_serve`: a Future, loading began first
    app = create_app(settings, loaded_predictor)   # tests: skip loading, still warm up

Every error is `{"error": "..."}` with its status: RequestError's own (4xx, 503), 404/405 for
unknown routes and methods, 500 only for a bug.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import binary, openapi, v2
from .auth import ApiKeys
from .errors import RequestError
from .metrics import Metrics
from .predictor import Predictor
from .service import Service
from .settings import Settings

log = logging.getLogger("onnx_serve")
Endpoint = Callable[[Request], Awaitable[Response]]


class JSONResponse(Response):
    """JSON by orjson: a third of the stdlib's time on a request's path, most of all on the first
    request after an idle spell. NaN and infinities are written as null, as JavaScript does."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def create_app(settings: Settings | None = None, predictor: Predictor | Future[Predictor] | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    metrics = Metrics()
    service = Service(settings, metrics, predictor)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        grpc_server = await start_grpc(service, app.state.keys, settings) if settings.grpc_port else None
        yield
        if grpc_server is not None:
            await grpc_server.stop(settings.drain_seconds)
        await service.stop()

    app = Starlette(
        routes=_routes(),
        middleware=[Middleware(MetricsMiddleware, metrics=metrics)],
        lifespan=lifespan,
        exception_handlers={RequestError: _request_error, HTTPException: _http_error, Exception: _server_error},
    )
    app.state.service = service
    app.state.metrics = metrics
    app.state.keys = ApiKeys(settings.api_keys, settings.api_keys_file)
    return app


def _routes() -> list[Route]:
    return [
        Route("/predict", keyed(predict), methods=["POST"]),
        Route("/score", keyed(predict), methods=["POST"]),
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/", server_metadata, methods=["GET"]),  # the spec's own path: no 307 to /v2
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2/models/{name}", keyed(model_metadata), methods=["GET"]),
        Route("/v2/models/{name}/ready", keyed(model_ready), methods=["GET"]),
        Route("/v2/models/{name}/infer", keyed(infer), methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}", keyed(model_metadata), methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", keyed(model_ready), methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/infer", keyed(infer), methods=["POST"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ]


def keyed(endpoint: Endpoint) -> Endpoint:
    """The endpoint, behind the API keys when the server has some (401 before the body is read)."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        request.app.state.keys.require(request.headers.get("authorization"))
        return await endpoint(request)

    return guarded


async def start_grpc(service: Service, keys: ApiKeys, settings: Settings) -> Any:
    from .grpc_api.server import start  # grpcio is in the image only when it was packaged with grpc: true

    return await start(service, keys, settings.host, settings.grpc_port, settings.max_body_bytes)


# --- routes --------------------------------------------------------------------------------------


async def predict(request: Request) -> Response:
    service = _service(request)
    return JSONResponse(await service.predict(await read_json(request, service.settings.max_body_bytes)))


async def infer(request: Request) -> Response:
    service = _service(request)
    raw = await read_body(request, service.settings.max_body_bytes)
    header, tensors = binary.split(raw, request.headers.get(binary.HEADER))
    body = parse_json(header)
    binary.attach_inputs(body, tensors)
    name, version = _model_path(request)
    content, header_length = binary.encode(await service.infer(name, version, body))
    if header_length is None:
        return Response(content, media_type="application/json")
    headers = {"Inference-Header-Content-Length": str(header_length)}
    return Response(content, media_type="application/octet-stream", headers=headers)


async def server_metadata(request: Request) -> Response:
    return JSONResponse(v2.server_metadata())


async def live(request: Request) -> Response:
    return JSONResponse({"live": True})


async def ready(request: Request) -> Response:
    is_ready = _service(request).ready
    return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


async def model_metadata(request: Request) -> Response:
    return JSONResponse(v2.model_metadata(_service(request).model(*_model_path(request))))


async def model_ready(request: Request) -> Response:
    name, version = _model_path(request)
    try:
        _service(request).model(name, version)
    except RequestError as e:
        if e.status == 404:
            raise
        return JSONResponse({"name": name, "ready": False}, status_code=503)
    return JSONResponse({"name": name, "ready": True})


async def metrics_endpoint(request: Request) -> Response:
    if _service(request).settings.metrics_keyed:
        request.app.state.keys.require(request.headers.get("authorization"))
    content, content_type = request.app.state.metrics.exposition()
    return Response(content, media_type=content_type)


async def openapi_json(request: Request) -> Response:
    service = _service(request)
    name = service.predictor.spec.name if service.predictor else "{name}"
    return JSONResponse(openapi.document(name))


async def docs(request: Request) -> Response:
    return HTMLResponse(openapi.SWAGGER_HTML)


def _model_path(request: Request) -> tuple[str, str | None]:
    """The model's name and, on the /versions/{version} routes, the version asked for."""
    return request.path_params["name"], request.path_params.get("version")


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


# --- JSON in, errors out ---------------------------------------------------------------------------


async def read_json(request: Request, limit: int) -> Any:
    """The parsed body; 413 past `limit` bytes (checked while reading), 400 if it is not JSON."""
    return parse_json(await read_body(request, limit))


async def read_body(request: Request, limit: int) -> bytes:
    """The body's bytes; 413 past `limit` bytes (checked while reading)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise RequestError("the client went away before sending the whole body", status=400) from None
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:  # also NaN, numbers beyond float64, nesting deeper than 1024
        raise RequestError(f"the body is not valid JSON: {e}") from None


def _too_large(limit: int) -> RequestError:
    return RequestError(f"the body is larger than {limit} bytes (ONNX_SERVE_MAX_BODY_BYTES)", status=413)


async def _request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return JSONResponse({"error": exc.message}, status_code=exc.status, headers=getattr(exc, "headers", None))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": f"internal error: {type(exc).__name__}"}, status_code=500)


class MetricsMiddleware:
    """Counts and times every HTTP request by route template (not raw path: bounded label values)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.observe_request(scope["method"], path, status, time.perf_counter() - started)
