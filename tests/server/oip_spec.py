"""The Open Inference Protocol's REST paths and answer schemas, as its OpenAPI document states them.

Transcribed (not copied) from the protocol's `open_inference_rest.yaml` (kserve/open-inference-protocol,
specification/protocol, Apache-2.0): the paths it lists and the `components.schemas` a server answers
with, written as JSON Schema. When the official file is vendored under tests/, load it here instead.
"""

from __future__ import annotations

from typing import Any

import jsonschema

# The document's paths, with ${MODEL_NAME} and ${MODEL_VERSION} as {name} and {version}.
PATHS = {
    ("GET", "/v2/health/live"): None,
    ("GET", "/v2/health/ready"): None,
    ("GET", "/v2/"): "metadata_server_response",
    ("GET", "/v2/models/{name}/versions/{version}/ready"): None,
    ("GET", "/v2/models/{name}/versions/{version}"): "metadata_model_response",
    ("POST", "/v2/models/{name}/versions/{version}/infer"): "inference_response",
}

_STRINGS = {"type": "array", "items": {"type": "string"}}
_SHAPE = {"type": "array", "items": {"type": "integer"}}
_TENSOR_DATA = {
    "type": "array",
    "items": {"anyOf": [{"$ref": "#/$defs/tensor_data"}, {"type": "number"}, {"type": "string"}, {"type": "boolean"}]},
}
_DEFS: dict[str, Any] = {
    "tensor_data": _TENSOR_DATA,
    "parameters": {"type": "object"},
    "metadata_tensor": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "datatype": {"type": "string"}, "shape": _SHAPE},
        "required": ["name", "datatype", "shape"],
    },
    "response_output": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "shape": _SHAPE,
            "datatype": {"type": "string"},
            "parameters": {"$ref": "#/$defs/parameters"},
            "data": {"$ref": "#/$defs/tensor_data"},
        },
        "required": ["name", "shape", "datatype", "data"],
    },
}
SCHEMAS: dict[str, dict[str, Any]] = {
    "metadata_server_response": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "extensions": _STRINGS},
        "required": ["name", "version", "extensions"],
    },
    "metadata_model_response": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "versions": _STRINGS,
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": {"$ref": "#/$defs/metadata_tensor"}},
            "outputs": {"type": "array", "items": {"$ref": "#/$defs/metadata_tensor"}},
        },
        "required": ["name", "platform"],
    },
    "inference_response": {
        "type": "object",
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "parameters": {"$ref": "#/$defs/parameters"},
            "outputs": {"type": "array", "items": {"$ref": "#/$defs/response_output"}},
        },
        "required": ["model_name", "outputs"],
    },
    "error_response": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
}


def validate(answer: Any, schema: str) -> None:
    """Raises jsonschema.ValidationError when `answer` is not what the document says `schema` is."""
    jsonschema.validate(answer, {**SCHEMAS[schema], "$defs": _DEFS})
