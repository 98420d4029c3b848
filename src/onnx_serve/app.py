"""The HTTP edge: routes that parse JSON and delegate to `Service`.

    app = create_app(Settings.from_env())          # loads the model once started
    app = create_app(settings, loading)            # `python -m onnx_serve`: a Future, loading began first
    app = create_app(settings, loaded_predictor)   # tests: skip loading, still warm up

The scoring routes (/predict, /score, the v2 infer routes) are `ScoringRoutes`, plain ASGI in front of
Starlette's middleware and router: on a request after an idle spell, when their code is cold in the
CPU's caches, those layers cost ~0.1 ms (benchmarks/cold_path.py). Every other route is a Starlette route.

Every error is `{"error": "..."}` with its status: RequestError's own (4xx, 503), 404/405 for
unknown routes and methods, 500 only for a bug.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route, compile_path
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

    keys = ApiKeys(settings.api_keys, settings.api_keys_file)
    app = Starlette(
        routes=_routes(),
        middleware=[
            Middleware(ScoringRoutes, service=service, keys=keys, metrics=metrics),
            Middleware(MetricsMiddleware, metrics=metrics),
        ],
        lifespan=lifespan,
        exception_handlers={RequestError: _error, HTTPException: _error, Exception: _error},
    )
    app.state.service = service
    app.state.metrics = metrics
    app.state.keys = keys
    return app


def _routes() -> list[Route]:
    return [
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/", server_metadata, methods=["GET"]),  # the spec's own path: no 307 to /v2
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2/models/{name}", keyed(model_metadata), methods=["GET"]),
        Route("/v2/models/{name}/ready", keyed(model_ready), methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}", keyed(model_metadata), methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", keyed(model_ready), methods=["GET"]),
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


# --- scoring -------------------------------------------------------------------------------------

SCORING_PATHS = ("/predict", "/score", "/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer")
_SCORING: list[tuple[str, re.Pattern[str]]] = [(path, compile_path(path)[0]) for path in SCORING_PATHS]


class ScoringRoutes:
    """The scoring routes, answered here; every other request goes on to `app` (Starlette's stack).

    Each is observed in the metrics under its route template, after its answer is sent.
    """

    def __init__(self, app: ASGIApp, service: Service, keys: ApiKeys, metrics: Metrics) -> None:
        self.app = app
        self.service = service
        self.keys = keys
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = scoring_route(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        template, params = route
        started = time.perf_counter()
        try:
            response = await self._answer(scope, receive, template, params)
        except Exception as e:
            response = error_response(e, scope["method"], scope["path"])
        try:
            await response(scope, receive, send)
        finally:  # also when the client went away while the answer was written
            seconds = time.perf_counter() - started
            self.metrics.observe_request(scope["method"], template, response.status_code, seconds)

    async def _answer(self, scope: Scope, receive: Receive, template: str, params: dict[str, str]) -> Response:
        if scope["method"] != "POST":
            raise RequestError("Method Not Allowed", status=405, headers={"Allow": "POST"})
        headers = Headers(scope=scope)
        self.keys.require(headers.get("authorization"))  # 401 before the body is read
        raw = await read_body(headers, receive, self.service.settings.max_body_bytes)
        if not template.startswith("/v2/"):
            return JSONResponse(await self.service.predict(parse_json(raw)))
        json_part, tensors = binary.split(raw, headers.get(binary.HEADER))
        body = parse_json(json_part)
        binary.attach_inputs(body, tensors)
        content, header_length = binary.encode(await self.service.infer(params["name"], params.get("version"), body))
        if header_length is None:
            return Response(content, media_type="application/json")
        length = {"Inference-Header-Content-Length": str(header_length)}
        return Response(content, media_type="application/octet-stream", headers=length)


def scoring_route(path: str) -> tuple[str, dict[str, str]] | None:
    """The scoring route's template and path parameters, or None for any other path."""
    for template, pattern in _SCORING:
        if (match := pattern.match(path)) is not None:
            return template, match.groupdict()
    return None


# --- other routes --------------------------------------------------------------------------------


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


async def read_body(headers: Headers, receive: Receive, limit: int) -> bytes:
    """The body's bytes; 413 past `limit` bytes (checked while reading)."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestError("the client went away before sending the whole body", status=400)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:  # also NaN, numbers beyond float64, nesting deeper than 1024
        raise RequestError(f"the body is not valid JSON: {e}") from None


def _too_large(limit: int) -> RequestError:
    return RequestError(f"the body is larger than {limit} bytes (ONNX_SERVE_MAX_BODY_BYTES)", status=413)


def error_response(exc: Exception, method: str, path: str) -> Response:
    """`{"error": ...}` with the error's status and headers; a 500 (logged) for anything but a request's fault."""
    if isinstance(exc, RequestError):
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)
    if isinstance(exc, HTTPException):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    log.error("%s %s failed", method, path, exc_info=exc)
    return JSONResponse({"error": f"internal error: {type(exc).__name__}"}, status_code=500)


async def _error(request: Request, exc: Exception) -> Response:
    return error_response(exc, request.method, request.url.path)


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
