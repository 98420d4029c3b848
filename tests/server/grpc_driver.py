"""Drives a server's gRPC endpoint with tritonclient.grpc or the KServe SDK's gRPC client, as their users call
them; run in the client venv (.venv-kserve: both need protobuf 6, the test venv has onnx's protobuf 7). One
client per process: both register the protocol's messages under the same names.

    python grpc_driver.py '{"client": "triton" | "kserve", "address": "127.0.0.1:PORT", "key": ...,
                            "model": ..., "version": ..., "texts" | "rows": ..., "outputs": [...]}'

Prints one JSON object: what each client returned (tensors as lists), or the error it raised.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np


def array_of(job: dict[str, Any]) -> tuple[np.ndarray, str, str]:
    if "texts" in job:
        return np.asarray(job["texts"], dtype=object), "text", "BYTES"
    return np.asarray(job["rows"], dtype=np.float32), "float_input", "FP32"


def plain(value: np.ndarray) -> list[Any]:
    return [v.decode() if isinstance(v, bytes) else v for v in value.ravel().tolist()]


def with_triton(job: dict[str, Any]) -> dict[str, Any]:
    import tritonclient.grpc as triton
    from tritonclient.utils import InferenceServerException

    client = triton.InferenceServerClient(job["address"])
    keyed = {"authorization": f"Bearer {job['key']}"}
    array, name, datatype = array_of(job)
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)  # raw_input_contents, the client's way
    result = client.infer(job["model"], [tensor], model_version=job["version"], headers=keyed, request_id="g-1")
    metadata = client.get_model_metadata(job["model"], headers=keyed, as_json=True)
    try:
        client.infer(job["model"], [tensor], headers={"authorization": "Bearer wrong"})
        refused = None
    except InferenceServerException as e:
        refused = e.status()
    try:
        client.infer(job["model"], [tensor], model_version="999", headers=keyed)
        unknown = None
    except InferenceServerException as e:
        unknown = [e.status(), e.message()]
    return {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(job["model"], headers=keyed),
        "extensions": client.get_server_metadata(as_json=True).get("extensions", []),
        "metadata": metadata,
        "id": result.get_response().id,
        "model_version": result.get_response().model_version,
        "outputs": {o: plain(result.as_numpy(o)) for o in job["outputs"]},
        "wrong_key": refused,
        "unknown_version": unknown,
    }


async def with_kserve(job: dict[str, Any]) -> dict[str, Any]:
    from kserve import InferenceGRPCClient, InferInput, InferRequest

    client = InferenceGRPCClient(job["address"], timeout=60)
    keyed = (("authorization", f"Bearer {job['key']}"),)
    array, name, datatype = array_of(job)
    tensor = InferInput(name=name, shape=list(array.shape), datatype=datatype)
    tensor.set_data_from_numpy(array, binary_data=True)
    try:
        answer = await client.infer(InferRequest(model_name=job["model"], infer_inputs=[tensor]), headers=keyed)
        return {
            "live": await client.is_server_live(),
            "ready": await client.is_server_ready(),
            "outputs": {o.name: plain(o.as_numpy()) for o in answer.outputs},
        }
    finally:
        await client.close()


def main(job: dict[str, Any]) -> dict[str, Any]:
    return with_triton(job) if job["client"] == "triton" else asyncio.run(with_kserve(job))


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
