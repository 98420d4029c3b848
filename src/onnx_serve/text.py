"""Texts to model inputs with the fast `tokenizers` runtime.

    encoder = TextEncoder.load(model_dir / "tokenizer.json", model_inputs, max_length=512)
    for rows, feeds in encoder.encode(["a text", "another"]):
        session.run(None, feeds)  # rows: which texts these feeds hold

Truncates to the max length and pads per batch (or to the model's fixed sequence length). A model
without `attention_mask` cannot ignore padding, so its texts are grouped by token count instead.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Encoding, Tokenizer

from .spec import ModelError
from .tensors import TensorSpec

TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
ENCODING_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
PAD_TOKENS = ("[PAD]", "<pad>", "<|pad|>", "<|padding|>")

Group = tuple[list[int], dict[str, np.ndarray]]


class TextEncoder:
    def __init__(self, tokenizer: Tokenizer, inputs: dict[str, np.dtype], pad_by_length: bool) -> None:
        self.tokenizer = tokenizer
        self.inputs = inputs  # the text inputs the model takes, with their integer dtype
        self.pad_by_length = pad_by_length

    @classmethod
    def load(cls, path: Path, model_inputs: Sequence[TensorSpec], max_length: int) -> TextEncoder:
        inputs = text_inputs(model_inputs)
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises bare Exception on bad files
            raise ModelError(f"cannot load the tokenizer {path}: {e}") from e
        fixed = _fixed_length(model_inputs)
        tokenizer.enable_truncation(min(max_length, fixed or max_length))
        masked = "attention_mask" in inputs
        if fixed or masked:
            tokenizer.enable_padding(pad_id=_pad_id(tokenizer), pad_token=_pad_token(tokenizer), length=fixed)
        else:
            tokenizer.no_padding()
        return cls(tokenizer, inputs, pad_by_length=not fixed and not masked)

    def encode(self, texts: Sequence[str]) -> list[Group]:
        """Feeds for the texts, as (positions in `texts`, feeds) groups of equal padded length."""
        encodings = self.tokenizer.encode_batch_fast(list(texts))
        if not self.pad_by_length:
            return [(list(range(len(texts))), self._feeds(encodings))]
        by_length: dict[int, list[int]] = {}
        for i, encoding in enumerate(encodings):
            by_length.setdefault(len(encoding.ids), []).append(i)
        return [(rows, self._feeds([encodings[i] for i in rows])) for rows in by_length.values()]

    def _feeds(self, encodings: list[Encoding]) -> dict[str, np.ndarray]:
        return {
            name: np.array([getattr(e, ENCODING_FIELDS[name]) for e in encodings], dtype=dtype)
            for name, dtype in self.inputs.items()
        }


def takes_token_ids(names: Collection[str]) -> bool:
    """input_ids and optionally attention_mask / token_type_ids, nothing else: the inputs of a text model."""
    return "input_ids" in names and all(n in TEXT_INPUTS for n in names)


def text_inputs(model_inputs: Sequence[TensorSpec]) -> dict[str, np.dtype]:
    """The text inputs the model takes, with their integer dtype; ModelError if it is not a text model."""
    names = [t.name for t in model_inputs]
    if not takes_token_ids(names):
        raise ModelError(
            f"a text-classification model takes input_ids and optionally attention_mask / token_type_ids, "
            f"this one takes {names}"
        )
    inputs = {}
    for tensor in model_inputs:
        if tensor.dtype not in (np.dtype(np.int64), np.dtype(np.int32)):
            raise ModelError(f"text input {tensor.name} must be int64 or int32, the model has {tensor.type}")
        inputs[tensor.name] = tensor.dtype
    return inputs


def _fixed_length(model_inputs: Sequence[TensorSpec]) -> int | None:
    """The sequence length of a model exported with a static one, else None."""
    ids = next(t for t in model_inputs if t.name == "input_ids")
    return ids.shape[1] if len(ids.shape) == 2 else None


def _pad_token(tokenizer: Tokenizer) -> str:
    configured = tokenizer.padding
    if configured:
        return str(configured["pad_token"])
    return next((t for t in PAD_TOKENS if tokenizer.token_to_id(t) is not None), "[PAD]")


def _pad_id(tokenizer: Tokenizer) -> int:
    configured = tokenizer.padding
    if configured:
        return int(configured["pad_id"])
    token_id = tokenizer.token_to_id(_pad_token(tokenizer))
    return token_id if token_id is not None else 0
