"""Load the model with onnxruntime, read its signature, detect the task and write serve.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from onnx_serve.spec import TEXT_TASK, ServeSpec
from onnx_serve.spec import ModelError as ServeModelError
from onnx_serve.tensors import TensorSpec
from onnx_serve.text import takes_token_ids, text_inputs

from .. import errors
from ..errors import ModelError
from ..settings import Settings
from ..sources import FetchedModel

# Models whose position ids start after the padding index use two fewer positions than declared.
OFFSET_POSITION_MODELS = {"roberta", "xlm-roberta", "camembert", "longformer", "bart", "mbart"}


@dataclass
class Inspection:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    serve: ServeSpec  # what serve.json holds (optimize records served_sha256 in it)

    @property
    def task(self) -> str:  # text-classification | tabular | tensor
        return self.serve.task

    @property
    def spec(self) -> dict[str, Any]:
        """serve.json's content."""
        return self.serve.to_json()


def open_session(model_path: Path) -> ort.InferenceSession:
    ort.disable_telemetry_events()  # onnxruntime would otherwise phone home from the runner
    try:
        return ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own untyped errors for every kind of bad model
        first_line = errors.first_line(str(err), default=err.__class__.__name__)
        raise ModelError(
            f"onnxruntime cannot load {model_path.name}: {first_line}",
            "check the model was exported for an opset and operators onnxruntime supports, "
            "and that the upload is complete",
        ) from err


def signature(args: list[Any]) -> tuple[TensorSpec, ...]:
    return tuple(TensorSpec.of(a) for a in args)


def detect_task(inputs: tuple[TensorSpec, ...], has_tokenizer: bool) -> str:
    """The task the server will serve the model as; its own text-input check decides what is a text model."""
    names = {t.name for t in inputs}
    if has_tokenizer:
        try:
            text_inputs(inputs)
        except ServeModelError as err:
            raise ModelError(
                f"a tokenizer came with the model but its inputs are {sorted(names)}",
                "export the model with integer inputs input_ids (and attention_mask/token_type_ids), "
                "or remove the tokenizer files to serve raw tensors",
            ) from err
        return TEXT_TASK
    if takes_token_ids(names):
        raise ModelError(
            f"the model takes {', '.join(sorted(names))} (a text model) but no tokenizer came with it",
            "set the tokenizer input (a folder, or a Hub id such as roberta-base), or place "
            "tokenizer.json beside the model",
        )
    strings = [t.name for t in inputs if t.type == "tensor(string)"]
    if strings:
        raise ModelError(
            f"the model takes string inputs {strings} and no tokenizer came with it",
            "place tokenizer.json beside the model or set the tokenizer input",
        )
    dtype = inputs[0].dtype if len(inputs) == 1 else None
    if dtype is not None and dtype.kind == "f" and len(inputs[0].shape) == 2:
        return "tabular"
    return "tensor"


def read_json_file(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text()) if path.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelError(
            f"{path.name} beside the model is not valid JSON ({err})", f"fix or remove {path.name}"
        ) from err
    return loaded if isinstance(loaded, dict) else {}


def class_labels(settings: Settings, config: dict[str, Any], outputs: tuple[TensorSpec, ...]) -> list[str] | None:
    labels = list(settings.class_labels)
    if not labels and isinstance(config.get("id2label"), dict):
        labels = [str(v) for _, v in sorted(config["id2label"].items(), key=lambda item: int(item[0]))]
    n_classes = outputs[0].fixed_dims[-1] if outputs and outputs[0].shape else None
    if labels and n_classes and len(labels) != n_classes:
        raise ModelError(
            f"{len(labels)} labels {labels} for a model with {n_classes} output classes",
            f"give exactly {n_classes} class-labels, comma-separated",
        )
    return labels or None


def max_length(inputs: tuple[TensorSpec, ...], bundle: Path) -> int:
    ids = next(t for t in inputs if t.name == "input_ids")
    if len(ids.fixed_dims) > 1 and ids.fixed_dims[1]:
        return int(ids.fixed_dims[1])
    limits = [512]
    declared = read_json_file(bundle / "tokenizer_config.json").get("model_max_length")
    if isinstance(declared, int) and 0 < declared < 100_000:
        limits.append(declared)
    config = read_json_file(bundle / "config.json")
    positions = config.get("max_position_embeddings")
    if isinstance(positions, int) and positions > 2:
        limits.append(positions - 2 if config.get("model_type") in OFFSET_POSITION_MODELS else positions)
    return min(limits) if len(limits) > 1 else limits[0]


def zero_feeds(inputs: tuple[TensorSpec, ...]) -> dict[str, np.ndarray]:
    """A batch of one, from the signature: dynamic dims become 1."""
    feeds = {}
    for tensor in inputs:
        dtype = tensor.dtype
        if dtype is None or dtype.kind == "O":
            raise ModelError(
                f"input {tensor.name} has type {tensor.type}, which the server cannot feed",
                "export the model with numeric tensor inputs",
            )
        shape = [d or 1 for d in tensor.fixed_dims]
        feeds[tensor.name] = np.zeros(shape, dtype=dtype)
    return feeds


def probe_outputs(
    session: ort.InferenceSession, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]
) -> None:
    """Run once on zeros: every output must be finite and shaped as declared."""
    try:
        results = session.run(None, zero_feeds(inputs))
    except Exception as err:  # onnxruntime's errors carry no useful type
        raise ModelError(
            f"the model fails on an input built from its own signature ({errors.first_line(str(err))})",
            "check the exported graph runs in onnxruntime, e.g. with a fixed opset",
        ) from err
    for declared, value in zip(outputs, results, strict=True):
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "fc":
            continue  # labels, strings, ZipMap sequences
        if not np.isfinite(value).all():
            raise ModelError(
                f"output {declared.name} holds NaN or infinity on a plain input",
                "check the exported weights (a failed conversion or fp16 overflow)",
            )
        if declared.shape and (
            len(declared.shape) != value.ndim
            or any(d is not None and d != got for d, got in zip(declared.fixed_dims, value.shape, strict=True))
        ):
            raise ModelError(
                f"output {declared.name} has shape {list(value.shape)}, not the declared "
                f"{list(declared.declared_shape)}",
                "re-export the model so its declared output shapes hold",
            )


def inspect_model(settings: Settings, model: FetchedModel, bundle: Path, has_tokenizer: bool) -> Inspection:
    """Check the bundled model runs and write serve.json beside it."""
    session = open_session(bundle / model.model_path.name)
    inputs, outputs = signature(session.get_inputs()), signature(session.get_outputs())
    task = detect_task(inputs, has_tokenizer)
    probe_outputs(session, inputs, outputs)
    config = read_json_file(bundle / "config.json")
    text = task == TEXT_TASK
    labels = class_labels(settings, config, outputs) if text else None
    serve = ServeSpec(
        name=model.name,
        version=model.version,
        task=task,
        model_file=model.model_path.name,
        sha256=model.sha256,
        labels=tuple(labels) if labels else None,
        max_length=max_length(inputs, bundle) if text else ServeSpec.max_length,
    )
    serve.write(bundle)  # a new file: the bundle holds links to the user's files
    return Inspection(inputs=inputs, outputs=outputs, serve=serve)
