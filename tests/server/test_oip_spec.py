"""The server against the Open Inference Protocol's OpenAPI document (vendored: oip_openapi/): every path it
lists that the server serves, each answer held to the document's schema, its error answers, the paths not
served, and the protocol's corner cases."""

from __future__ import annotations

import hashlib
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import httpx
import jsonschema
import pytest

from oip_spec import (
    COMPONENTS,
    DOCUMENT,
    DOCUMENT_FILE,
    DOCUMENT_SHA256,
    NOT_SERVED,
    PATHS,
    SERVED,
    Call,
    calls,
    check,
    file_sha256,
    json_schema,
    validate,
)
from onnx_serve.app import SCORING_PATHS, create_app
from onnx_serve.settings import Settings
from server_models import WINE_ROWS, serving

pytestmark = pytest.mark.anyio
SETTINGS = Settings(model_dir=Path("/nonexistent"))
GOOD = "Containers are good"
TEXT_BODY = {"id": "a-1", "inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [GOOD]}]}
WINE_BODY = {"inputs": [{"name": "float_input", "datatype": "FP32", "shape": [1, 13], "data": WINE_ROWS[0]}]}

# What the server serves of the document: the protocol's health, metadata, ready and infer paths, each with
# and without /versions/{model_version}. Written out so that another document cannot change it unseen.
SERVED_PATHS = {
    ("GET", "/v2/health/live"),
    ("GET", "/v2/health/ready"),
    ("GET", "/v2"),
    ("GET", "/v2/models/{model_name}"),
    ("GET", "/v2/models/{model_name}/versions/{model_version}"),
    ("GET", "/v2/models/{model_name}/ready"),
    ("GET", "/v2/models/{model_name}/versions/{model_version}/ready"),
    ("POST", "/v2/models/{model_name}/infer"),
    ("POST", "/v2/models/{model_name}/versions/{model_version}/infer"),
}
# Not served, on purpose (the LLM extensions: streaming and generation): answered 404 like any unknown path.
UNSUPPORTED = {
    ("POST", "/v2/models/{model_name}/infer_stream"),
    ("POST", "/v2/models/{model_name}/versions/{model_version}/infer_stream"),
    ("POST", "/v2/models/{model_name}/generate"),
    ("POST", "/v2/models/{model_name}/versions/{model_version}/generate"),
    ("POST", "/v2/models/{model_name}/generate_stream"),
    ("POST", "/v2/models/{model_name}/versions/{model_version}/generate_stream"),
}


def test_the_vendored_document_is_mlserver_1_7_1s_byte_for_byte():
    assert file_sha256() == DOCUMENT_SHA256
    readme = (DOCUMENT_FILE.parent / "README.md").read_text()
    assert DOCUMENT_SHA256 in readme and "mlserver" in readme and "1.7.1" in readme
    licence = (DOCUMENT_FILE.parent / "LICENSE").read_bytes()
    assert b"Apache License" in licence and b"Version 2.0, January 2004" in licence
    assert hashlib.sha256(licence).hexdigest() == "a054f12365ab230e34a07f25973f8cc687ee1a34c167338c86f984ee01968508"


def test_every_path_of_the_document_is_served_or_listed_unsupported():
    assert DOCUMENT["openapi"] == "3.0.3" and DOCUMENT["info"]["version"] == "2.0"
    assert set(PATHS) == SERVED_PATHS | UNSUPPORTED and not SERVED_PATHS & UNSUPPORTED
    assert set(SERVED) == SERVED_PATHS and NOT_SERVED == UNSUPPORTED


def test_the_served_paths_are_the_apps_routes_and_the_unsupported_ones_are_not():
    routes = {(method, route.path) for route in create_app(SETTINGS).routes for method in (route.methods or ())}
    routes |= {("POST", path) for path in SCORING_PATHS}  # answered in front of the router
    as_routed = {(m, t.replace("{model_name}", "{name}").replace("{model_version}", "{version}")) for m, t in PATHS}
    served = {(m, t.replace("{model_name}", "{name}").replace("{model_version}", "{version}")) for m, t in SERVED}
    assert served <= routes
    assert not (as_routed - served) & routes


def test_the_schemas_read_as_draft_4_json_schema_once_converted():
    for name in COMPONENTS["schemas"]:
        jsonschema.Draft4Validator.check_schema(json_schema(name))
    with pytest.raises(jsonschema.SchemaError, match="bytes"):  # TensorData's "type": "bytes", as written
        jsonschema.Draft4Validator.check_schema({"definitions": DOCUMENT["components"]["schemas"]})


def test_the_conversion_turns_nullable_into_a_type_union():
    from oip_spec import _to_json_schema

    converted = _to_json_schema(
        {
            "type": "object",
            "properties": {
                "a": {"type": "string", "nullable": True},
                "b": {"type": "string", "enum": ["x"], "nullable": True},
            },
        }
    )
    jsonschema.Draft4Validator(converted).validate({"a": None, "b": None})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(_to_json_schema({"type": "string"})).validate(None)


@pytest.mark.parametrize(
    ("answer", "name"),
    [
        (
            {"model_name": "m", "outputs": [{"name": "o", "shape": [1], "datatype": "FLOAT32", "data": [1]}]},
            "InferenceResponse",
        ),  # not a datatype of the document
        ({"model_name": "m", "outputs": [{"name": "o", "shape": [1], "datatype": "FP32"}]}, "InferenceResponse"),
        (
            {"model_name": "m", "outputs": [{"name": "o", "shape": ["1"], "datatype": "FP32", "data": [1]}]},
            "InferenceResponse",
        ),
        ({"model_name": "m", "id": 42, "outputs": []}, "InferenceResponse"),
        ({"name": "m", "versions": ["1"]}, "MetadataModelResponse"),  # no platform
        ({"name": "m", "platform": "onnx", "inputs": [{"name": "t", "datatype": "FP32"}]}, "MetadataModelResponse"),
        ({"name": "s", "version": "1"}, "MetadataServerResponse"),  # no extensions
        ({"error": 404}, "InferenceErrorResponse"),
    ],
)
def test_the_document_refuses_what_it_does_not_say(answer, name):
    with pytest.raises(jsonschema.ValidationError):
        validate(answer, name)


@pytest.mark.parametrize(("kind", "name", "body"), [("text", "sentiment", TEXT_BODY), ("wine", "wine", WINE_BODY)])
async def test_every_path_of_the_document_answers_in_its_schema(predictor, kind, name, body):
    """Each served path: 200 in its schema; 404 for an unknown model or version and 400 for a bad body, in
    the document's error schema; the unsupported paths 404."""
    made = calls(name, "1", body)
    assert {(c.method, c.template) for c in made} == set(PATHS)
    async with serving(create_app(SETTINGS, predictor=predictor(kind))) as client:
        for call in made:
            response = await client.request(call.method, call.path, **call.body)
            check(call, response.status_code, response.headers["content-type"], response.json())


@pytest.mark.parametrize(("method", "template"), sorted(UNSUPPORTED))
async def test_the_unsupported_paths_answer_404_in_the_error_schema(predictor, method, template):
    async with serving(create_app(SETTINGS, predictor=predictor("text"))) as client:
        for version in ("1", "9"):
            path = template.format(model_name="sentiment", model_version=version)
            response = await client.request(method, path, json=TEXT_BODY)
            assert response.status_code == 404, (path, response.text)
            check(Call(method, template, path, {}, 404), 404, response.headers["content-type"], response.json())


async def test_get_v2_with_a_slash_is_the_server_metadata_not_a_redirect(predictor):
    async with serving(create_app(SETTINGS, predictor=predictor("text"))) as client:
        slash, bare = await client.get("/v2/"), await client.get("/v2")
    assert slash.status_code == 200 and slash.json() == bare.json()
    validate(slash.json(), "MetadataServerResponse")
    assert slash.json()["extensions"] == ["binary_tensor_data"]


async def test_model_version_is_the_version_the_metadata_lists(predictor):
    async with serving(create_app(SETTINGS, predictor=predictor("text"))) as client:
        versions = (await client.get("/v2/models/sentiment")).json()["versions"]
        answer = (await client.post("/v2/models/sentiment/infer", json=TEXT_BODY)).json()
    assert versions == [answer["model_version"]] and answer["id"] == "a-1"


@pytest.mark.parametrize("bad_id", [42, 4.2, None, True, ["a"], {"a": 1}])
async def test_an_id_that_is_not_a_string_is_refused(predictor, bad_id):
    async with serving(create_app(SETTINGS, predictor=predictor("text"))) as client:
        response = await client.post("/v2/models/sentiment/infer", json={**TEXT_BODY, "id": bad_id})
    assert response.status_code == 400
    validate(response.json(), "InferenceErrorResponse")
    assert response.json()["error"].startswith('"id" must be a string, got ')


async def test_no_id_asked_none_answered(predictor):
    async with serving(create_app(SETTINGS, predictor=predictor("wine"))) as client:
        answer = (await client.post("/v2/models/wine/infer", json=WINE_BODY)).json()
    assert "id" not in answer
    validate(answer, "InferenceResponse")


VERSIONED = "/v2/models/{model_name}/versions/{model_version}"


@pytest.mark.parametrize(
    ("method", "template", "path", "status"),
    [
        ("POST", VERSIONED + "/infer", "/v2/models/sentiment/versions/1/infer", 400),
        ("POST", VERSIONED + "/infer", "/v2/models/other/versions/1/infer", 404),
        ("GET", VERSIONED, "/v2/models/sentiment/versions/9", 404),
        ("GET", VERSIONED + "/ready", "/v2/models/sentiment/versions/9/ready", 404),
    ],
)
async def test_errors_are_the_documents_error_objects(predictor, method, template, path, status):
    async with serving(create_app(SETTINGS, predictor=predictor("text"))) as client:
        response = await client.request(method, path, json={"inputs": "nope"} if method == "POST" else None)
    assert response.status_code == status
    check(Call(method, template, path, {}, status), status, response.headers["content-type"], response.json())


async def test_not_ready_is_a_503_with_ready_false(predictor):
    """A model still loading: 503 (what Kubernetes probes and KServe's own server use), ready false in the body."""
    app = create_app(replace(SETTINGS), predictor=Future())  # never finishes loading
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://onnx-serve") as client:
            assert (await client.get("/v2/health/live")).json() == {"live": True}
            ready = await client.get("/v2/health/ready")
            assert ready.status_code == 503 and ready.json() == {"ready": False}
            for path in ("/v2/models/sentiment/ready", "/v2/models/sentiment/versions/1/ready"):
                model = await client.get(path)
                assert model.status_code == 503 and model.json() == {"name": "sentiment", "ready": False}
