"""The binary tensor data extension of the Open Inference Protocol (KServe / Triton), transport-free.

    header, tensors = split(raw_body, headers.get(HEADER))  # JSON bytes, the raw tensor bytes after it
    attach_inputs(body, tensors)       # inputs with parameters.binary_data_size get their "data" from the bytes
    body, header_length = encode(answer)   # outputs whose "data" is bytes go after the JSON header

A request is `Inference-Header-Content-Length` bytes of JSON followed by each binary input's bytes, in
the order of its inputs. Numbers are little-endian, row-major; a BYTES element is a 4-byte little-endian
length followed by that many bytes. An answer is laid out the same way when binary outputs were asked for.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson

from .errors import RequestError

HEADER = "inference-header-content-length"
EXTENSION = "binary_tensor_data"


def split(raw: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON part and the tensor bytes of a request body (all JSON without the header)."""
    if header_length is None:
        return raw, b""
    if not header_length.strip().isdigit() or int(header_length) > len(raw):
        raise RequestError(
            f"Inference-Header-Content-Length {header_length!r} must be the JSON header's size in bytes, "
            f"at most the body's {len(raw)}"
        )
    return raw[: int(header_length)], raw[int(header_length) :]


def attach_inputs(body: Any, tensors: bytes) -> None:
    """Give every input that declares parameters.binary_data_size its slice of `tensors` as "data"."""
    offset = 0
    for tensor in _binary_inputs(body):
        size = tensor["parameters"]["binary_data_size"]
        name = tensor.get("name")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise RequestError(f"input {name}: parameters.binary_data_size must be a byte count, got {size!r}")
        if "data" in tensor:
            raise RequestError(f"input {name} has both data and parameters.binary_data_size: send one")
        if offset + size > len(tensors):
            raise RequestError(
                f"input {name}: binary_data_size {size} goes past the end of the binary data "
                f"({len(tensors) - offset} bytes left after the JSON header)"
            )
        tensor["data"] = _decode(tensors[offset : offset + size], tensor.get("datatype"), name)
        offset += size
    if offset != len(tensors):
        raise RequestError(
            f"the body holds {len(tensors)} bytes after the JSON header but the inputs' "
            f"binary_data_size add up to {offset}"
        )


def _binary_inputs(body: Any) -> list[dict[str, Any]]:
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list):
        return []
    return [t for t in inputs if isinstance(t, dict) and "binary_data_size" in (_parameters(t) or {})]


def _parameters(tensor: dict[str, Any]) -> dict[str, Any] | None:
    parameters = tensor.get("parameters")
    return parameters if isinstance(parameters, dict) else None


def _decode(raw: bytes, datatype: Any, name: Any) -> Any:
    """BYTES: a list of strings; numbers: a flat little-endian array (its shape is checked by v2)."""
    if datatype == "BYTES":
        return [_utf8(item, name) for item in _length_prefixed(raw, name)]
    dtype = _NUMPY.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise RequestError(f"input {name}: datatype {datatype!r} cannot be sent as binary data")
    if len(raw) % dtype.itemsize:
        raise RequestError(
            f"input {name}: binary_data_size {len(raw)} is not a whole number of {datatype} values "
            f"({dtype.itemsize} bytes each)"
        )
    return np.frombuffer(raw, dtype=dtype)


def _length_prefixed(raw: bytes, name: Any) -> list[bytes]:
    items, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise RequestError(f"input {name}: BYTES data ends inside a 4-byte length prefix")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise RequestError(f"input {name}: a BYTES element of {length} bytes goes past its binary_data_size")
        items.append(raw[offset : offset + length])
        offset += length
    return items


def _utf8(item: bytes, name: Any) -> str:
    try:
        return item.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RequestError(f"input {name}: a BYTES element is not UTF-8 text ({e.reason} at byte {e.start})") from e


# --- outputs -------------------------------------------------------------------------------------


def wants_binary(body: dict[str, Any], output: dict[str, Any] | None) -> bool:
    """An output's own parameters.binary_data wins; else the request's parameters.binary_data_output."""
    own = (_parameters(output) or {}).get("binary_data") if output else None
    if own is not None:
        return own is True
    return (_parameters(body) or {}).get("binary_data_output") is True


def to_bytes(array: np.ndarray, datatype: str) -> bytes:
    if datatype != "BYTES":
        return array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
    parts = []
    for item in array.ravel():
        data = item if isinstance(item, bytes) else str(item).encode("utf-8")
        parts += [struct.pack("<I", len(data)), data]
    return b"".join(parts)


def encode(answer: dict[str, Any]) -> tuple[bytes, int | None]:
    """The answer's body and, when some outputs are binary, the length of its JSON header."""
    chunks = []
    for output in answer.get("outputs", []):
        if isinstance(output.get("data"), bytes):
            data = output.pop("data")
            output["parameters"] = {**output.get("parameters", {}), "binary_data_size": len(data)}
            chunks.append(data)
    header = orjson.dumps(answer)
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)


_NUMPY = {
    name: np.dtype(t).newbyteorder("<")
    for name, t in {
        "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
        "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
        "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
    }.items()
}  # fmt: skip
