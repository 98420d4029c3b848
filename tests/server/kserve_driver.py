"""Drives a server with the KServe SDK's REST client, as its users call it; run in the kserve venv.

    python kserve_driver.py '{"url": ..., "key": ..., "model": ..., "version": ..., "texts" | "rows": ...}'

Prints one JSON object: what the client returned for each call (tensors as lists), or the error it
raised. The kserve package pins an old protobuf, so it lives in a venv of its own (scripts/setup-machine.sh).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput


async def main(job: dict[str, Any]) -> dict[str, Any]:
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=60))
    url, model, key = job["url"], job["model"], job["key"]
    try:
        if job.get("not_ready"):
            return await _not_ready(client, url, model)
        answers = {
            "live": await client.is_server_live(url, headers=_bearer(key)),
            "ready": await client.is_server_ready(url, headers=_bearer(key)),
            "model_ready": await client.is_model_ready(url, model, headers=_bearer(key)),
            "json": _outputs(await client.infer(url, _request(job, binary=False), model, headers=_bearer(key))),
            "binary": _outputs(await client.infer(url, _request(job, binary=True), model, headers=_bearer(key))),
            "versioned": await _versioned(client, job, _bearer(key)),
            "wrong_key": await _refused(client.infer(url, _request(job, False), model, headers=_bearer("wrong"))),
            "no_key": await _refused(client.infer(url, _request(job, False), model)),
        }
    finally:
        await client.close()
    return answers


def _request(job: dict[str, Any], binary: bool) -> InferRequest:
    """The texts (BYTES) or rows (FP32) as kserve's InferInput; binary asks for raw tensors both ways."""
    if "texts" in job:
        array, name, datatype = np.asarray(job["texts"], dtype=object), "text", "BYTES"
    else:
        array, name, datatype = np.asarray(job["rows"], dtype=np.float32), "float_input", "FP32"
    tensor = InferInput(name=name, shape=list(array.shape), datatype=datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    outputs = [RequestedOutput(o, {"binary_data": True}) for o in job["outputs"]] if binary else None
    return InferRequest(model_name=job["model"], infer_inputs=[tensor], request_outputs=outputs)


async def _versioned(client: InferenceRESTClient, job: dict[str, Any], headers: dict[str, str]) -> Any:
    """kserve's client has no version argument: its full-URL form (is_graph_endpoint) reaches the versioned route."""
    url = f"{job['url']}/v2/models/{job['model']}/versions/{job['version']}/infer"
    answer = await client.infer(url, _request(job, binary=False), headers=headers, is_graph_endpoint=True)
    return {"model_version": answer["model_version"], "outputs": {o["name"]: o["data"] for o in answer["outputs"]}}


async def _not_ready(client: InferenceRESTClient, url: str, model: str) -> dict[str, Any]:
    model_ready = await client.is_model_ready(url, model)
    try:
        server_ready: Any = await client.is_server_ready(url)
    except httpx.HTTPStatusError as e:
        server_ready = {"status": e.response.status_code}
    await client.close()
    return {"model_ready": model_ready, "server_ready": server_ready}


async def _refused(call: Any) -> dict[str, Any]:
    try:
        await call
    except httpx.HTTPStatusError as e:
        return {"status": e.response.status_code, "challenge": e.response.headers.get("www-authenticate")}
    return {"status": 200}


def _outputs(response: Any) -> dict[str, Any]:
    values = {o.name: _listed(o.as_numpy()) for o in response.outputs}
    return {"model_version": response.model_version, "id": response.id, "outputs": values}


def _listed(array: np.ndarray) -> Any:
    if array.dtype.kind in "OSU":
        return [v.decode() if isinstance(v, bytes) else str(v) for v in array.ravel()]
    return array.tolist()


def _bearer(key: str) -> dict[str, str]:
    """A fresh dict per call: the client writes Inference-Header-Content-Length into the one it is given."""
    return {"Authorization": f"Bearer {key}"}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
