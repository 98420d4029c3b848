"""Smoke test on the runner: answer the sample with the same code the image serves with."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onnx_serve.spec import TEXT_TASK

from ..errors import ModelError, SmokeTestError
from ..report import short
from ..settings import Settings
from .inspection import Inspection, zero_feeds
from .samples import Sample

DEFAULT_TEXT_SAMPLE = ["Containers are good"]


@dataclass(frozen=True)
class Probe:
    """A request the image must answer exactly as the runner did."""

    path: str
    body: Any
    answer: Any


def default_sample(inspection: Inspection) -> Any:
    if inspection.task == TEXT_TASK:
        return DEFAULT_TEXT_SAMPLE
    from onnx_serve.v2 import NUMPY_TO_DATATYPE

    feeds = zero_feeds(inspection.inputs)
    if inspection.task == "tabular":
        return {"data": feeds[inspection.inputs[0].name].tolist()}
    return {
        "inputs": [
            {
                "name": name,
                "shape": list(array.shape),
                "datatype": NUMPY_TO_DATATYPE[array.dtype],
                "data": array.ravel().tolist(),
            }
            for name, array in feeds.items()
        ]
    }


def probe_path(inspection: Inspection) -> str:
    if inspection.task == "tensor":
        return f"/v2/models/{inspection.spec['name']}/infer"
    return "/predict"


def same_answer(got: Any, want: Any, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """Equal JSON, with floats compared within tolerance."""
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return math.isclose(got, want, rel_tol=rtol, abs_tol=atol)
    if isinstance(want, dict) and isinstance(got, dict):
        return got.keys() == want.keys() and all(same_answer(got[k], want[k], rtol, atol) for k in want)
    if isinstance(want, list) and isinstance(got, list):
        return len(got) == len(want) and all(same_answer(g, w, rtol, atol) for g, w in zip(got, want, strict=True))
    return bool(got == want)


def finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, list):
        return all(finite(v) for v in value)
    return True


def load_predictor(bundle: Path) -> Any:
    from onnx_serve.predictor import Predictor
    from onnx_serve.spec import ModelError as ServeModelError

    try:
        return Predictor.load(bundle)
    except ServeModelError as err:
        raise ModelError(
            f"the server cannot load the model: {err}",
            "check the model folder (model, tokenizer.json, config.json) is complete",
        ) from err


def answer(predictor: Any, path: str, body: Any, where: str = "sample") -> Any:
    from onnx_serve import protocol, v2
    from onnx_serve.errors import RequestError

    try:
        return protocol.predict(predictor, body) if path == "/predict" else v2.infer(predictor, body)
    except RequestError as err:
        raise SmokeTestError(
            f"the model rejects the {where} {short(body)}: {err}",
            "give a sample that fits the model's inputs "
            '(text models: a JSON list of strings; tabular: {"data": [[...]]})',
        ) from err


def smoke_test(settings: Settings, inspection: Inspection, bundle: Path) -> Probe:
    """The sample input (or the default one) answered on the runner."""
    return smoke_samples(inspection, bundle, [Sample(0, settings.sample, settings.expected)])[0]


def smoke_samples(inspection: Inspection, bundle: Path, samples: list[Sample]) -> list[Probe]:
    """Every sample (the default one when none is given) answered on the runner, checked against its expected."""
    samples = samples or [Sample(0, None)]
    path = probe_path(inspection)
    predictor = load_predictor(bundle)
    return [check_sample(inspection, predictor, path, sample) for sample in samples]


def check_sample(inspection: Inspection, predictor: Any, path: str, sample: Sample) -> Probe:
    body = sample.body if sample.body is not None else default_sample(inspection)
    where = sample.where
    if inspection.task != TEXT_TASK and is_text(body):
        raise SmokeTestError(
            f"the {where} {short(body)} is text but no tokenizer came with the model",
            "place tokenizer.json beside the model, or set the tokenizer input (a path or Hub id)",
        )
    got = answer(predictor, path, body, where)
    if not finite(got):
        raise SmokeTestError(
            f"the model answers {short(got)} to the {where}, which holds NaN or infinity",
            "check the exported weights and the sample's values",
        )
    if sample.expected is not None and not same_answer(got, sample.expected):
        raise SmokeTestError(
            f"the model answers {short(got)} to the {where} {short(body)}, expected {short(sample.expected)}",
            "check that this is the right model version, or update expected",
        )
    return Probe(path=path, body=body, answer=got)


def reanswer(bundle: Path, probes: list[Probe]) -> list[Probe]:
    """The same requests answered by the model now in the bundle (after optimize/quantize replaced it)."""
    predictor = load_predictor(bundle)
    return [Probe(p.path, p.body, answer(predictor, p.path, p.body)) for p in probes]


def is_text(body: Any) -> bool:
    items = body.get("inputs") if isinstance(body, dict) else body
    return isinstance(items, list) and bool(items) and all(isinstance(i, str) for i in items)
