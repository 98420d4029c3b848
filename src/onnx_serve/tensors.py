"""What a model's inputs and outputs look like, in numpy terms.

    TensorSpec.of(session.get_inputs()[0])  # name, ONNX type string, shape with None for symbolic dims

Symbolic and unknown dimensions are None in `shape`; `declared_shape` keeps them as the model names them
(what the packager reports). `dtype` is None for sequences and maps (ZipMap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ONNX_TO_NUMPY = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint64)": np.uint64,
    "tensor(uint32)": np.uint32,
    "tensor(uint16)": np.uint16,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    type: str  # the ONNX type string: "tensor(float)", "seq(map(int64,tensor(float)))", ...
    shape: tuple[int | None, ...]
    declared_shape: tuple[int | str | None, ...] = ()  # onnxruntime's: symbolic dims by name, e.g. ("batch", 4)

    @classmethod
    def of(cls, node: Any) -> TensorSpec:
        """From an onnxruntime NodeArg; symbolic and unknown dims become None."""
        shape = node.shape if isinstance(node.shape, list) else []
        return cls(
            node.name, node.type, tuple(d if isinstance(d, int) and d >= 0 else None for d in shape), tuple(shape)
        )

    @property
    def dtype(self) -> np.dtype | None:
        """The numpy dtype of a tensor, None for sequences and maps."""
        numpy_type = ONNX_TO_NUMPY.get(self.type)
        return np.dtype(numpy_type) if numpy_type is not None else None

    @property
    def fixed_dims(self) -> list[int | None]:
        """Each dim's size when the model fixes it (> 0), else None."""
        return [d if d else None for d in self.shape]

    @property
    def batch_dim(self) -> int | None:
        """The fixed size of axis 0, None when it is dynamic (or the tensor is a scalar)."""
        return self.shape[0] if self.shape else None
