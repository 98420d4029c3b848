"""The HTTP app in process: every endpoint, the tutorial contract, bad requests as 4xx JSON."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.datastructures import Headers

from onnx_serve.app import JSONResponse, create_app, read_body
from onnx_serve.errors import RequestError
from onnx_serve.predictor import Predictor
from onnx_serve.settings import Settings
from server_models import WINE_ROWS, serving

pytestmark = pytest.mark.anyio
GOOD, BAD = "Containers are good", "Containers are terrible"
SETTINGS = Settings(model_dir=Path("/nonexistent"))


def app_for(predictor, kind: str, **settings):
    return create_app(replace(SETTINGS, **settings), predictor=predictor(kind))


async def test_the_tutorial_contract_over_http(predictor):
    async with serving(app_for(predictor, "text")) as client:
        response = await client.post("/predict", json=["Containers are good"])
        assert response.status_code == 200 and response.json() == {"positive": True}
        assert response.headers["content-type"] == "application/json"
        answers = (await client.post("/predict", json={"inputs": [GOOD, BAD]})).json()
        assert [a["label"] for a in answers] == ["positive", "negative"] and "scores" in answers[0]


async def test_azure_ml_scoring_on_predict_and_score(predictor):
    async with serving(app_for(predictor, "wine")) as client:
        for path in ("/predict", "/score"):
            response = await client.post(path, json={"data": WINE_ROWS})
            assert response.status_code == 200 and response.json() == [0, 0, 0]


async def test_v2_endpoints(predictor):
    async with serving(app_for(predictor, "text")) as client:
        assert (await client.get("/v2")).json()["name"] == "onnx-serve"
        assert (await client.get("/v2/health/live")).json() == {"live": True}
        assert (await client.get("/v2/health/ready")).json() == {"ready": True}
        assert (await client.get("/v2/models/sentiment")).json()["inputs"][0]["datatype"] == "BYTES"
        assert (await client.get("/v2/models/sentiment/ready")).json() == {"name": "sentiment", "ready": True}
        body = {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [GOOD]}]}
        answer = (await client.post("/v2/models/sentiment/infer", json=body)).json()
        assert answer["outputs"][0]["data"] == ["positive"]


async def test_metrics_count_requests_batches_and_the_model(predictor):
    async with serving(app_for(predictor, "wine")) as client:
        await client.post("/predict", json={"data": WINE_ROWS})
        await client.post("/predict", json={"data": []})
        await asyncio.sleep(0.01)  # a batch is observed once its callers are answered, a loop turn later
        text = (await client.get("/metrics")).text
    assert 'onnx_serve_requests_total{method="POST",route="/predict",status="200"} 1.0' in text
    assert 'onnx_serve_requests_total{method="POST",route="/predict",status="400"} 1.0' in text
    assert 'onnx_serve_request_duration_seconds_count{route="/predict"} 2.0' in text
    assert "onnx_serve_batch_size_sum 3.0" in text and "onnx_serve_inference_duration_seconds_count 1.0" in text
    assert "onnx_serve_queue_depth 0.0" in text and "onnx_serve_model_load_seconds" in text
    assert 'onnx_serve_model_info{name="wine",sha256="",task="tabular",version="1"} 1.0' in text
    assert "process_resident_memory_bytes" in text


async def test_openapi_and_docs(predictor):
    async with serving(app_for(predictor, "text")) as client:
        document = (await client.get("/openapi.json")).json()
        assert {"/predict", "/score", "/v2/models/{name}/infer", "/metrics"} <= set(document["paths"])
        assert "swagger-ui" in (await client.get("/docs")).text


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/predict", b'["Containers are', 400, "not valid JSON"),
        ("POST", "/predict", b"", 400, "not valid JSON"),
        ("POST", "/predict", b"\xff\xfe\xfa", 400, "not valid JSON"),
        ("POST", "/predict", b"[" * 5000 + b"]" * 5000, 400, "not valid JSON"),
        ("POST", "/predict", b"[NaN]", 400, "not valid JSON: unexpected character"),
        ("POST", "/predict", b"[1e400]", 400, "not valid JSON: number is infinity"),
        ("POST", "/predict", b'["\\ud800"]', 400, "not valid JSON: no low surrogate"),
        ("POST", "/predict", b"[]", 400, "no items"),
        ("POST", "/predict", b'{"inputs": [1]}', 400, "list of strings"),
        ("POST", "/predict", json.dumps(["x"] * 5).encode(), 413, "ONNX_SERVE_MAX_REQUEST_ITEMS"),
        ("POST", "/predict", json.dumps(["x" * 20_000]).encode(), 413, "ONNX_SERVE_MAX_BODY_BYTES"),
        ("POST", "/v2/models/other/infer", b"{}", 404, "model 'other' not found"),
        ("GET", "/v2/models/other", None, 404, "model 'other' not found"),
        ("GET", "/v2/models/other/ready", None, 404, "model 'other' not found"),
        ("POST", "/v2/models/sentiment/infer", b'{"inputs": [{"name": "text"}]}', 400, "needs name, shape"),
        ("GET", "/nowhere", None, 404, "Not Found"),
        ("GET", "/predict", None, 405, "Method Not Allowed"),
    ],
)
async def test_bad_requests_get_4xx_json(predictor, method, path, body, status, message):
    app = app_for(predictor, "text", max_request_items=4, max_body_bytes=15_000)
    async with serving(app) as client:
        response = await client.request(method, path, content=body)
    assert response.status_code == status
    assert message in response.json()["error"]


async def test_a_body_too_large_is_refused_while_streaming(predictor):
    async def chunks():
        for _ in range(10):
            yield b" " * 200

    async with serving(app_for(predictor, "text", max_body_bytes=1000)) as client:
        response = await client.post("/predict", content=chunks())  # no content-length
    assert response.status_code == 413 and "larger than 1000 bytes" in response.json()["error"]


async def test_a_scoring_route_answers_other_methods_405_with_allow_post(predictor):
    async with serving(app_for(predictor, "text")) as client:
        for path in ("/predict", "/score", "/v2/models/sentiment/infer", "/v2/models/sentiment/versions/1/infer"):
            response = await client.put(path, content=b"[]")
            assert response.status_code == 405 and response.headers["allow"] == "POST", path
            assert response.json() == {"error": "Method Not Allowed"}


async def test_a_client_that_goes_away_mid_body_is_a_400():
    messages = iter([{"type": "http.request", "body": b"[", "more_body": True}, {"type": "http.disconnect"}])

    async def receive():
        return next(messages)

    with pytest.raises(RequestError, match="went away before sending the whole body") as refused:
        await read_body(Headers({"content-length": "20"}), receive, 100)
    assert refused.value.status == 400


async def test_a_server_bug_is_a_500_json_and_the_server_goes_on(predictor):
    app = app_for(predictor, "wine")
    async with serving(app, raise_errors=False) as client:
        batcher = app.state.service.batcher

        def explode(jobs):
            raise ValueError("boom")

        working, batcher.run_batch = batcher.run_batch, explode
        response = await client.post("/predict", json={"data": WINE_ROWS})
        batcher.run_batch = working
        assert response.status_code == 500 and response.json() == {"error": "internal error: ValueError"}
        assert (await client.post("/predict", json={"data": WINE_ROWS})).status_code == 200


async def test_not_ready_until_loaded_and_a_model_that_cannot_load_stops_the_server(tmp_path):
    app = create_app(Settings(model_dir=tmp_path))  # no serve.json
    stopped = []
    app.state.service.on_fatal = lambda: stopped.append(True)
    async with serving(app) as client:
        assert (await client.get("/v2/health/live")).status_code == 200
        ready = await client.get("/v2/health/ready")
        assert ready.status_code == 503 and ready.json() == {"ready": False}
        response = await client.post("/predict", json=[GOOD])
        assert response.status_code == 503 and "not loaded" in response.json()["error"]
        assert (await client.get("/v2/models/any/ready")).status_code == 503
    assert stopped == [True] and app.state.service.failed


async def test_the_server_loads_the_model_from_its_folder(model_dir):
    async with serving(create_app(Settings(model_dir=model_dir("wine"), threads=1))) as client:
        assert (await client.get("/v2/health/ready")).status_code == 200
        assert (await client.post("/score", json={"data": WINE_ROWS[:1]})).json() == [0]


class CountingSession:
    """Wraps an InferenceSession: counts runs and makes each take a while, so requests pile up."""

    def __init__(self, session, seconds: float) -> None:
        self.session, self.seconds, self.batches = session, seconds, []

    def run(self, names, feeds):
        self.batches.append(len(next(iter(feeds.values()))))
        time.sleep(self.seconds)
        return self.session.run(names, feeds)

    def __getattr__(self, name):
        return getattr(self.session, name)


async def test_concurrent_requests_are_coalesced_into_fewer_session_runs(model_dir):
    model = Predictor.load(model_dir("text"), threads=1)
    counting = CountingSession(model.session, seconds=0.05)
    model.session = counting
    async with serving(create_app(replace(SETTINGS, max_batch_size=8), predictor=model)) as client:
        counting.batches.clear()  # the warm-up
        texts = [GOOD if i % 2 else BAD for i in range(16)]
        responses = await asyncio.gather(*(client.post("/predict", json=[t]) for t in texts))
    assert [r.json() for r in responses] == [{"positive": t == GOOD} for t in texts]
    assert sum(counting.batches) == 16 and len(counting.batches) < 16 and max(counting.batches) <= 8


async def test_health_answers_while_a_long_batch_runs(model_dir):
    model = Predictor.load(model_dir("text"), threads=1)
    model.session = CountingSession(model.session, seconds=0.3)
    async with serving(create_app(SETTINGS, predictor=model)) as client:
        await client.post("/predict", json=[GOOD])  # the server learns that a text takes 0.3 s
        slow = asyncio.ensure_future(client.post("/predict", json=[GOOD]))
        await asyncio.sleep(0.05)  # it runs now, in the inference thread (longer than INLINE_SECONDS)
        live = await client.get("/v2/health/live")
        answered_during_the_run = not slow.done()
        assert (await slow).json() == {"positive": True}
    assert live.status_code == 200 and answered_during_the_run


async def test_coalesced_answers_equal_lone_answers(predictor):
    rows = WINE_ROWS * 4
    async with serving(app_for(predictor, "wine", max_queue_delay_ms=50)) as client:
        together = await asyncio.gather(*(client.post("/v2/models/wine/infer", json=_v2_row(r)) for r in rows))
        batches = _batch_count((await client.get("/metrics")).text)
        alone = [(await client.post("/v2/models/wine/infer", json=_v2_row(r))).json() for r in rows]
    for got, expected in zip([r.json() for r in together], alone, strict=True):
        assert got["outputs"][0] == expected["outputs"][0]  # labels
        assert got["outputs"][1]["data"] == pytest.approx(expected["outputs"][1]["data"], rel=1e-5, abs=1e-6)
    assert batches < len(rows)


def _v2_row(row):
    return {"inputs": [{"name": "float_input", "shape": [1, 13], "datatype": "FP32", "data": row}]}


def _batch_count(metrics: str) -> float:
    line = next(line for line in metrics.splitlines() if line.startswith("onnx_serve_batch_size_count"))
    return float(line.split()[-1])


async def test_versioned_routes_serve_the_models_own_version(model_dir):
    served = Predictor.load(model_dir("wine"), threads=1)
    served.spec = replace(served.spec, version="3")  # as serve.json records an Azure ML version
    body = _v2_row(WINE_ROWS[0])
    async with serving(create_app(SETTINGS, predictor=served)) as client:
        metadata = (await client.get("/v2/models/wine/versions/3")).json()
        assert metadata["versions"] == ["3"] and metadata == (await client.get("/v2/models/wine")).json()
        ready = await client.get("/v2/models/wine/versions/3/ready")
        assert ready.status_code == 200 and ready.json() == {"name": "wine", "ready": True}
        versioned = (await client.post("/v2/models/wine/versions/3/infer", json=body)).json()
        unversioned = (await client.post("/v2/models/wine/infer", json=body)).json()
        assert versioned == unversioned and versioned["model_version"] == "3"
        for method, path in [("GET", ""), ("GET", "/ready"), ("POST", "/infer")]:
            response = await client.request(method, f"/v2/models/wine/versions/1{path}", json=body)
            assert response.status_code == 404
            assert response.json()["error"] == "model 'wine' has no version '1'; its versions: ['3']"


async def test_the_metric_collectors_are_made_after_ready_before_any_request(predictor):
    """Importing prometheus_client costs ~11 ms: made after ready, in a thread, no request waits for it."""
    app = app_for(predictor, "text")
    async with serving(app):
        deadline = time.monotonic() + 10
        while "_collectors" not in vars(app.state.metrics) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert "_collectors" in vars(app.state.metrics)


def test_json_answers_write_nan_and_infinity_as_null():
    """JSON has no NaN: a model output of NaN or infinity is answered as null, as JavaScript writes it."""
    assert (
        JSONResponse({"score": float("nan"), "scores": [float("inf"), 0.5]}).body
        == b'{"score":null,"scores":[null,0.5]}'
    )
