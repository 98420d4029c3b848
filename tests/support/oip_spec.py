"""The Open Inference Protocol's REST paths and answer schemas, read from its vendored OpenAPI document.

The document is oip_openapi/dataplane.json (MLServer's copy of the protocol's REST OpenAPI document, see
oip_openapi/README.md). PATHS is what it lists; `calls` is what a test sends for the paths this server
serves (each with its right answer and its error answers) and `check` holds an answer to the document.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema

DOCUMENT_FILE = Path(__file__).resolve().parent / "oip_openapi" / "dataplane.json"
DOCUMENT_SHA256 = "7e7e5c1acc538233bb125ee3dd50cb46063e191d83d82ce1a556e2b13cc1d97b"  # mlserver 1.7.1's
DOCUMENT: dict[str, Any] = json.loads(DOCUMENT_FILE.read_bytes())
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def file_sha256() -> str:
    return hashlib.sha256(DOCUMENT_FILE.read_bytes()).hexdigest()


def _schema_name(response: dict[str, Any]) -> str | None:
    """The components/schemas name of a JSON answer; None when the document gives the answer no body."""
    content = response.get("content")
    if not content:
        return None
    ref: str = content["application/json"]["schema"]["$ref"]
    return ref.removeprefix("#/components/schemas/")


# (METHOD, template) -> {status: schema name, or None for an answer the document gives no body}
PATHS: dict[tuple[str, str], dict[int, str | None]] = {
    (method.upper(), template): {int(status): _schema_name(r) for status, r in operation["responses"].items()}
    for template, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if method in _METHODS
}

# The document's paths this server does not serve, on purpose: streaming and generation are extensions
# of the protocol for LLMs; it answers them 404 (no such route). Every other path of the document is served.
NOT_SERVED = frozenset(
    {
        ("POST", "/v2/models/{model_name}/infer_stream"),
        ("POST", "/v2/models/{model_name}/versions/{model_version}/infer_stream"),
        ("POST", "/v2/models/{model_name}/generate"),
        ("POST", "/v2/models/{model_name}/versions/{model_version}/generate"),
        ("POST", "/v2/models/{model_name}/generate_stream"),
        ("POST", "/v2/models/{model_name}/versions/{model_version}/generate_stream"),
    }
)
SERVED = {path: answers for path, answers in PATHS.items() if path not in NOT_SERVED}

# The schemas the document gives its error answers (each `{"error": string}`).
ERROR_SCHEMAS = sorted(
    {name for answers in PATHS.values() for status, name in answers.items() if status >= 400 and name}
)


# --- OpenAPI 3.0 schema objects to JSON Schema (draft 4, which OpenAPI 3.0's schemas extend) ----------


def _to_json_schema(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema  # a boolean additionalProperties
    out = {key: value for key, value in schema.items() if key != "nullable" and not key.startswith("x-")}
    if out.get("type") == "bytes":  # not an OpenAPI type: Python's bytes, which JSON carries as a string
        out["type"] = "string"
    if schema.get("nullable") is True:
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    for key in ("items", "additionalProperties", "not"):
        if key in out:
            out[key] = _to_json_schema(out[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in out:
            out[key] = [_to_json_schema(s) for s in out[key]]
    if "properties" in out:
        out["properties"] = {name: _to_json_schema(s) for name, s in out["properties"].items()}
    return out


# components.schemas and components.enums, converted; the "$ref"s in them keep pointing at "#/components/...".
COMPONENTS = {
    group: {name: _to_json_schema(s) for name, s in schemas.items()}
    for group, schemas in DOCUMENT["components"].items()
}


def json_schema(name: str) -> dict[str, Any]:
    """components.schemas[name] as a JSON Schema whose "$ref"s resolve inside it."""
    if name not in COMPONENTS["schemas"]:
        raise KeyError(f"the document has no schema {name!r}")
    return {"$ref": f"#/components/schemas/{name}", "components": COMPONENTS}


def validate(answer: Any, name: str) -> None:
    """Raises jsonschema.ValidationError when `answer` is not what the document says schema `name` is."""
    jsonschema.Draft4Validator(json_schema(name)).validate(answer)


# --- the calls a test makes, and the check of their answers ---------------------------------------------


class Call(NamedTuple):
    method: str
    template: str  # the document's path
    path: str  # the path sent
    body: dict[str, Any]  # httpx's json= or content=
    status: int  # the status the server must answer

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.template}) -> {self.status}"


def fill(template: str, name: str, version: str) -> str:
    return template.format(model_name=name, model_version=version)


def calls(name: str, version: str, infer_body: dict[str, Any]) -> list[Call]:
    """Every served path of the document, for model `name` at `version`: its right answer (200), then
    404 for an unknown model and for an unknown version, 400 for a body that is not an inference request
    and for one that is not JSON; and 404 for each path not served."""
    done = []
    for method, template in SERVED:
        right = {"json": infer_body} if method == "POST" else {}
        done.append(Call(method, template, fill(template, name, version), right, 200))
        if "{model_name}" in template:
            done.append(Call(method, template, fill(template, name + "-unknown", version), right, 404))
        if "{model_version}" in template:
            done.append(Call(method, template, fill(template, name, version + "999"), right, 404))
        if method == "POST":
            done.append(Call(method, template, fill(template, name, version), {"json": {"inputs": "nope"}}, 400))
            done.append(Call(method, template, fill(template, name, version), {"content": b"{not json"}, 400))
    for method, template in sorted(NOT_SERVED):
        done.append(Call(method, template, fill(template, name, version), {"json": infer_body}, 404))
    return done


def check(call: Call, status: int, content_type: str, answer: Any) -> None:
    """The answer is the one `call` expects and is what the document says (an AssertionError or a
    jsonschema.ValidationError if not). An answer the document lists is held to its schema; an error the
    document does not list for that path (e.g. 404 on the ready paths, which list only 200), and the 404
    of a path not served, to every error schema of the document."""
    assert status == call.status, f"{call}: answered {status}: {answer}"
    assert content_type.split(";")[0].strip() == "application/json", f"{call}: answered {content_type}"
    listed = PATHS[(call.method, call.template)]
    if (call.method, call.template) not in NOT_SERVED and status in listed:
        if listed[status]:
            validate(answer, listed[status])
    else:
        assert status >= 400, f"{call}: the document lists {sorted(listed)} for this path, not {status}"
        for name in ERROR_SCHEMAS:
            validate(answer, name)
    if status >= 400:  # the document's InferenceErrorResponse leaves "error" optional; this server always says
        assert isinstance(answer.get("error"), str) and answer["error"], f"{call}: {answer}"
