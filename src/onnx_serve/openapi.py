"""The OpenAPI document of the server (GET /openapi.json) and a Swagger UI page (GET /docs).

Written by hand: the routes take raw JSON (no pydantic models on the hot path), so the schemas
here are the documentation of the contracts in protocol.py and v2.py.
"""

from __future__ import annotations

from typing import Any

from . import __version__

ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {"enum": ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
                              "FP16", "FP32", "FP64", "BYTES"]},
        "data": {"type": "array", "description": "row-major values, flat or nested"},
    },
}  # fmt: skip
PREDICT_BODY = {
    "oneOf": [
        {"type": "array", "items": {"type": "string"}, "description": "text model: the tutorial's form"},
        {"type": "object", "properties": {"inputs": {"type": "array", "items": {"type": "string"}}},
         "description": "text model: per item label, score and scores by label"},
        {"type": "object", "properties": {"data": {"type": "array", "items": {"type": "array"}}},
         "description": "tabular model: rows of features; the answer is one prediction per row"},
    ],
}  # fmt: skip
PREDICT_EXAMPLES = {
    "tutorial": {"value": ["Containers are good"]},
    "texts": {"value": {"inputs": ["Containers are good", "Containers are terrible"]}},
    "tabular": {"value": {"data": [[5.1, 3.5, 1.4, 0.2]]}},
}

SWAGGER_HTML = """<!doctype html>
<html><head><title>onnx-serve API</title><meta charset="utf-8">
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script>
<noscript>The API description is at <a href="/openapi.json">/openapi.json</a>.</noscript>
</body></html>
"""


def document(model_name: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "onnx-serve", "version": __version__, "description": f"Serves the model {model_name}."},
        "paths": {
            "/predict": {"post": _predict_operation("Predict (tutorial and Azure ML shapes)")},
            "/score": {"post": _predict_operation("Azure ML scoring: same as /predict")},
            "/v2": {"get": _get("Server metadata (Open Inference Protocol v2)")},
            "/v2/": {"get": _get("Server metadata, at the Open Inference Protocol's own path")},
            "/v2/health/live": {"get": _get("Liveness: 200 while the process serves HTTP")},
            "/v2/health/ready": {"get": _get("Readiness: 200 once the model is loaded and warmed up, else 503")},
            "/v2/models/{name}": {"get": _get("Model metadata: inputs and outputs", name=True)},
            "/v2/models/{name}/ready": {"get": _get("Model readiness", name=True)},
            "/v2/models/{name}/infer": {"post": _infer_operation()},
            "/v2/models/{name}/versions/{version}": {"get": _get("Model metadata, of this version", True, True)},
            "/v2/models/{name}/versions/{version}/ready": {"get": _get("Model readiness, of this version", True, True)},
            "/v2/models/{name}/versions/{version}/infer": {"post": _infer_operation(version=True)},
            "/metrics": {"get": _get("Prometheus metrics", content="text/plain")},
        },
        "components": {"schemas": {"Error": ERROR, "Tensor": TENSOR}},
    }


def _responses(ok: str = "OK", content: str = "application/json") -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {
        "200": {"description": ok, "content": {content: {}}},
        "4XX": {"description": "bad request: the error says what and how to fix it", **error},
        "503": {"description": "not ready, busy or shutting down", **error},
    }


def _get(summary: str, name: bool = False, version: bool = False, content: str = "application/json") -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": _responses(content=content)}
    params = ["name"] * name + ["version"] * version
    if params:
        operation["parameters"] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
        ]
    return operation


def _predict_operation(summary: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PREDICT_BODY, "examples": PREDICT_EXAMPLES}},
        },
        "responses": _responses('{"positive": true}, a list of predictions, or per-item labels and scores'),
    }


def _infer_operation(version: bool = False) -> dict[str, Any]:
    tensors = {"type": "array", "items": {"$ref": "#/components/schemas/Tensor"}}
    request = {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "inputs": tensors,
            "outputs": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
        },
    }
    text_example = {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["Containers are good"]}]}
    operation = _get("Inference (Open Inference Protocol v2, JSON or binary tensors)", name=True, version=version)
    operation["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": request, "examples": {"text": {"value": text_example}}}},
    }
    return operation
