"""The Open Inference Protocol over gRPC (GRPCInferenceService), beside HTTP, on ONNX_SERVE_GRPC_PORT.

A thin adapter: each ModelInferRequest becomes the v2 JSON body HTTP would carry (raw_input_contents as
binary tensors), goes through the same Service (validation, batching, limits), and every output comes back
as raw_output_contents, as Triton answers. API keys come in the `authorization` metadata; health stays open.
Only imported when the port is set: the image carries grpcio only when packaged with `grpc: true`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import numpy as np
from google.protobuf.message import Message

from .. import binary, v2
from ..auth import ApiKeys
from ..errors import RequestError
from ..service import Service
from . import open_inference_pb2 as pb

log = logging.getLogger("onnx_serve")
SERVICE = "inference.GRPCInferenceService"
CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
}
# InferTensorContents' field for each datatype, for clients that send typed contents instead of raw bytes.
CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}

Context = grpc.aio.ServicerContext[Any, Any]
Handler = Callable[[Any, Context], Awaitable[Message]]


def parameter(value: Any) -> Any:
    kind = value.WhichOneof("parameter_choice")
    return getattr(value, kind) if kind else None


def to_body(request: pb.ModelInferRequest) -> tuple[dict[str, Any], bytes]:
    """The v2 JSON body and its binary tensors, as an HTTP client would send them."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise RequestError(f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs", 400)
    inputs = []
    for index, tensor in enumerate(request.inputs):
        entry: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}
        if raw:
            entry["parameters"] = {"binary_data_size": len(raw[index])}
        else:
            entry["data"] = typed_contents(tensor)
        inputs.append(entry)
    body: dict[str, Any] = {"inputs": inputs, "parameters": {"binary_data_output": True}}
    if request.id:
        body["id"] = request.id
    if request.outputs:
        body["outputs"] = [{"name": output.name} for output in request.outputs]
    return body, b"".join(raw)


def typed_contents(tensor: Any) -> list[Any]:
    field = CONTENTS.get(tensor.datatype)
    if field is None:
        raise RequestError(f"input {tensor.name} has datatype {tensor.datatype!r}, which has no contents field", 400)
    values = list(getattr(tensor.contents, field))
    return [v.decode("utf-8", errors="strict") for v in values] if tensor.datatype == "BYTES" else values


def to_response(answer: dict[str, Any]) -> pb.ModelInferResponse:
    response = pb.ModelInferResponse(
        model_name=answer["model_name"], model_version=answer["model_version"], id=answer.get("id", "")
    )
    for output in answer["outputs"]:
        data = output["data"]
        if not isinstance(data, bytes):  # always binary, as asked in to_body; kept safe for any output
            data = binary.to_bytes(np.asarray(data), output["datatype"])
        response.outputs.add(name=output["name"], datatype=output["datatype"], shape=output["shape"])
        response.raw_output_contents.append(data)
    return response


class Servicer:
    def __init__(self, service: Service, keys: ApiKeys) -> None:
        self.service, self.keys = service, keys

    def keyed(self, context: Context) -> None:
        metadata = dict(context.invocation_metadata() or ())
        key = metadata.get("authorization")  # a str: only "-bin" keys carry bytes
        self.keys.require(key if isinstance(key, str) else None)

    async def server_live(self, request: Any, context: Context) -> Message:
        return pb.ServerLiveResponse(live=True)

    async def server_ready(self, request: Any, context: Context) -> Message:
        return pb.ServerReadyResponse(ready=self.service.ready)

    async def server_metadata(self, request: Any, context: Context) -> Message:
        return pb.ServerMetadataResponse(**v2.server_metadata())

    async def model_ready(self, request: Any, context: Context) -> Message:
        self.keyed(context)
        try:
            self.service.model(request.name, request.version or None)
        except RequestError as e:
            if e.status == 404:
                raise
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=True)

    async def model_metadata(self, request: Any, context: Context) -> Message:
        self.keyed(context)
        metadata = v2.model_metadata(self.service.model(request.name, request.version or None))
        tensors = {
            side: [pb.ModelMetadataResponse.TensorMetadata(**t) for t in metadata[side]]
            for side in ("inputs", "outputs")
        }
        return pb.ModelMetadataResponse(
            name=metadata["name"], versions=metadata["versions"], platform=metadata["platform"], **tensors
        )

    async def model_infer(self, request: Any, context: Context) -> Message:
        self.keyed(context)
        body, tensors = to_body(request)  # its size is bounded by the server's max_receive_message_length
        binary.attach_inputs(body, tensors)
        return to_response(await self.service.infer(request.model_name, request.model_version or None, body))


def answering(method: Handler) -> Handler:
    """A RequestError becomes the gRPC status its HTTP status means, with the same message."""

    async def call(request: Any, context: Context) -> Message:
        try:
            return await method(request, context)
        except RequestError as e:
            await context.abort(CODES.get(e.status, grpc.StatusCode.INTERNAL), str(e))
            raise  # abort raises; this line is never reached

    return call


def handlers(servicer: Servicer) -> grpc.GenericRpcHandler:
    methods = {
        "ServerLive": (servicer.server_live, pb.ServerLiveRequest),
        "ServerReady": (servicer.server_ready, pb.ServerReadyRequest),
        "ModelReady": (servicer.model_ready, pb.ModelReadyRequest),
        "ServerMetadata": (servicer.server_metadata, pb.ServerMetadataRequest),
        "ModelMetadata": (servicer.model_metadata, pb.ModelMetadataRequest),
        "ModelInfer": (servicer.model_infer, pb.ModelInferRequest),
    }
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            name: grpc.unary_unary_rpc_method_handler(
                answering(method),
                request_deserializer=kind.FromString,
                response_serializer=lambda message: message.SerializeToString(),
            )
            for name, (method, kind) in methods.items()
        },
    )


async def start(service: Service, keys: ApiKeys, host: str, port: int, max_bytes: int) -> grpc.aio.Server:
    limit = max_bytes + 64 * 1024  # room for the message framing around a body at the HTTP limit
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", -1)])
    server.add_generic_rpc_handlers((handlers(Servicer(service, keys)),))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    server.add_insecure_port(address)
    await server.start()
    log.info("gRPC (Open Inference Protocol) on %s", address)
    return server
