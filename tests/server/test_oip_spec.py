"""The server against the Open Inference Protocol's OpenAPI document: its paths, its schemas, its corner cases."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from oip_spec import PATHS, validate
from server_models import WINE_ROWS, serving

from onnx_serve.app import create_app
from onnx_serve.settings import Settings

pytestmark = pytest.mark.anyio
SETTINGS = Settings(model_dir=Path("/nonexistent"))
GOOD = "Containers are good"
TEXT_BODY = {"id": "a-1", "inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [GOOD]}]}
WINE_BODY = {"inputs": [{"name": "float_input", "datatype": "FP32", "shape": [1, 13], "data": WINE_ROWS[0]}]}


@pytest.mark.parametrize(("kind", "name", "body"), [("text", "sentiment", TEXT_BODY), ("wine", "wine", WINE_BODY)])
async def test_every_path_of_the_document_answers_in_its_schema(predictor, kind, name, body):
    async with serving(create_app(SETTINGS, predictor=predictor(kind))) as client:
        for (method, template), schema in PATHS.items():
            path = template.format(name=name, version="1")
            response = await client.request(method, path, json=body if method == "POST" else None)
            assert response.status_code == 200, (path, response.status_code, response.text)
            if schema:
                validate(response.json(), schema)


async def test_get_v2_with_a_slash_is_the_server_metadata_not_a_redirect(predictor):
    async with serving(create_app(SETTINGS, predictor=predictor("text"))) as client:
        slash, bare = await client.get("/v2/"), await client.get("/v2")
    assert slash.status_code == 200 and slash.json() == bare.json()
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
    validate(response.json(), "error_response")
    assert response.json()["error"].startswith('"id" must be a string, got ')


async def test_no_id_asked_none_answered(predictor):
    async with serving(create_app(SETTINGS, predictor=predictor("wine"))) as client:
        answer = (await client.post("/v2/models/wine/infer", json=WINE_BODY)).json()
    assert "id" not in answer
    validate(answer, "inference_response")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/v2/models/sentiment/versions/1/infer", 400),
        ("POST", "/v2/models/other/versions/1/infer", 404),
        ("GET", "/v2/models/sentiment/versions/9", 404),
        ("GET", "/v2/models/sentiment/versions/9/ready", 404),
    ],
)
async def test_errors_are_the_documents_error_objects(predictor, method, path, status):
    async with serving(create_app(SETTINGS, predictor=predictor("text"))) as client:
        response = await client.request(method, path, json={"inputs": "nope"} if method == "POST" else None)
    assert response.status_code == status
    validate(response.json(), "error_response")


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
