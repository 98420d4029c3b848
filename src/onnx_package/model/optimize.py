"""Faster models with a proven answer: each candidate is served only if it answers like the original.

    trials = improve_model(settings, inspection, bundle, probes, work, reporter)

`optimize`: onnxruntime's extended graph optimizations saved once (portable across CPUs: no layout
transforms), after the transformer fusions (attention, layer norm, GELU) for text encoders. Accepted
when every golden output is within TOLERANCE of the original's and every class decision is the same.
`quantize: int8`: dynamic int8 weights, accepted when at least min-agreement of the class decisions
equal the original's; below that the run stops with the numbers.
The served file replaces the model in the bundle under the same name; serve.json keeps the original's
sha256 (the model's identity) and records the served file's as `served_sha256`.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from onnx_serve.spec import TEXT_TASK

from ..errors import QualityGateError, first_line
from ..report import Reporter
from ..settings import Settings
from ..sources.base import external_data_files, sha256_of
from .inspection import Inspection
from .smoke import Probe

TOLERANCE = 1e-4  # |optimized - original| <= TOLERANCE * (1 + |original|), on every output value
SPEED_RUNS = 30  # the timed loop: at most this many runs of each model, alternating
SPEED_SECONDS = 3.0  # and at most this long in all


@dataclass
class Trial:
    """One candidate against the original model, on the golden set."""

    kind: str  # optimize | int8
    served: bool
    decisions: int  # class decisions compared (one per text or row)
    agreement: float  # share of them equal to the original's (1.0 when there are none)
    max_abs_diff: float  # over every float output value (probabilities for text models)
    size_before: int
    size_after: int
    speedup: float = 0.0  # original / candidate, median seconds per run on the runner (int8 only)
    fused: dict[str, int] = field(default_factory=dict)
    why: str = ""  # why it is not served

    @classmethod
    def measured(cls, kind: str, served: bool, found: Comparison, model: Path, candidate: Path, **more: Any) -> Trial:
        """A candidate measured against the original on the golden set."""
        sizes = model.stat().st_size, candidate.stat().st_size
        return cls(kind, served, found.decisions, found.agreement, found.max_abs_diff, *sizes, **more)

    def describe(self) -> str:
        name = "optimized" if self.kind == "optimize" else "int8"
        facts = (
            f"max abs difference {self.max_abs_diff:.2g}, {self.agreement:.2%} of {self.decisions} "
            f"class decisions equal, {mb(self.size_before)} -> {mb(self.size_after)}"
        )
        if self.fused:
            facts += ", fused " + ", ".join(f"{op} x{n}" for op, n in sorted(self.fused.items()))
        if self.speedup:
            facts += f", {self.speedup:.2f}x faster on the runner"
        verdict = f"{name} model served" if self.served else f"{name} model not served ({self.why})"
        return f"{verdict}: {facts}"


def mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"


# --- answering the golden set --------------------------------------------------------------------


def predictor_for(bundle: Path, model_path: Path) -> Any:
    """The server's predictor for the bundle, with another model file in it (same options as in the image)."""
    from onnx_serve.predictor import TOKENIZER_FILE, Predictor
    from onnx_serve.runtime import cpu_limit, create_session
    from onnx_serve.spec import read_spec
    from onnx_serve.tensors import TensorSpec
    from onnx_serve.text import TextEncoder

    spec = read_spec(bundle)
    session = create_session(model_path, cpu_limit())
    encoder = None
    if spec.task == TEXT_TASK:
        inputs = [TensorSpec.of(node) for node in session.get_inputs()]
        encoder = TextEncoder.load(bundle / TOKENIZER_FILE, inputs, spec.max_length)
    return Predictor(spec, session, encoder)


def golden_jobs(predictor: Any, probes: list[Probe]) -> list[Any]:
    from onnx_serve import protocol, v2

    parse = {"/predict": protocol.parse_predict}
    return [parse.get(p.path, v2.parse_infer)(predictor, p.body).job for p in probes]


def output_arrays(result: Any) -> list[np.ndarray]:
    """A job's result as arrays: text gives probabilities; ZipMap's list of {label: p} becomes a matrix."""
    values = list(result.values()) if isinstance(result, dict) else [result]
    arrays = []
    for value in values:
        if isinstance(value, list) and value and isinstance(value[0], dict):
            value = [[row[key] for key in sorted(row)] for row in value]
        arrays.append(np.asarray(value))
    return arrays


def decisions_of(arrays: list[np.ndarray]) -> np.ndarray | None:
    """One class decision per row: the first label output, else the argmax of the first score matrix."""
    for array in arrays:
        if array.ndim == 1 and array.dtype.kind in "iuUSOb":
            return array
    for array in arrays:
        if array.ndim == 2 and array.dtype.kind == "f" and array.shape[1] > 1:
            decisions: np.ndarray = array.argmax(axis=1)
            return decisions
    return None


@dataclass
class Comparison:
    decisions: int = 0
    equal: int = 0
    max_abs_diff: float = 0.0
    within: bool = True

    @property
    def agreement(self) -> float:
        return self.equal / self.decisions if self.decisions else 1.0


def compare(reference: list[Any], candidate: list[Any]) -> Comparison:
    result = Comparison()
    for want, got in zip(reference, candidate, strict=True):
        want_arrays, got_arrays = output_arrays(want), output_arrays(got)
        for w, g in zip(want_arrays, got_arrays, strict=True):
            if w.dtype.kind == "f" and w.size:
                difference = np.abs(g.astype(np.float64) - w)
                result.max_abs_diff = max(result.max_abs_diff, float(difference.max()))
                result.within &= bool((difference <= TOLERANCE * (1 + np.abs(w))).all())
        want_decisions, got_decisions = decisions_of(want_arrays), decisions_of(got_arrays)
        if want_decisions is not None and got_decisions is not None:
            result.decisions += len(want_decisions)
            result.equal += int((want_decisions == got_decisions).sum())
    return result


def seconds_per_run(predictors: list[Any], job: Any) -> list[float]:
    """Median seconds of one job on each predictor, runs alternating so that other load hits them alike."""
    times: list[list[float]] = [[] for _ in predictors]
    for predictor in predictors:
        predictor.run_job(job)  # warm-up
    deadline = time.monotonic() + SPEED_SECONDS
    while len(times[0]) < SPEED_RUNS and (time.monotonic() < deadline or len(times[0]) < 3):
        for predictor, mine in zip(predictors, times, strict=True):
            began = time.perf_counter()
            predictor.run_job(job)
            mine.append(time.perf_counter() - began)
    return [statistics.median(mine) for mine in times]


# --- the candidates ------------------------------------------------------------------------------


def is_transformer(model: Any) -> bool:
    ops = {node.op_type for node in model.graph.node}
    return "Softmax" in ops and "MatMul" in ops and bool(ops & {"LayerNormalization", "ReduceMean"})


def optimized_model(source: Path, dest: Path) -> dict[str, int]:
    """Write the optimized model to dest; the transformer fusions applied, by operator."""
    import onnx

    fused: dict[str, int] = {}
    graph_input = source
    model = onnx.load(str(source))
    if is_transformer(model):
        from onnxruntime.transformers import optimizer

        # opt_level 0: the fusions only; nothing tuned to this runner's CPU is saved.
        # bert: RoBERTa's encoder is BERT's (onnxruntime 1.31 has no roberta type of its own); heads and width are
        # read from the graph.
        with quiet_root_logger():
            fusion = optimizer.optimize_model(
                str(source), model_type="bert", num_heads=0, hidden_size=0, opt_level=0, use_gpu=False
            )
        fused = {op: n for op, n in fusion.get_fused_operator_statistics().items() if n}
        graph_input = dest.with_name("fused.onnx")
        fusion.save_model_to_file(str(graph_input))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED  # not ALL: CPU-specific
    options.optimized_model_filepath = str(dest)
    options.log_severity_level = 3
    ort.InferenceSession(str(graph_input), options, providers=["CPUExecutionProvider"])
    return fused


@contextmanager
def quiet_root_logger() -> Iterator[None]:
    """onnxruntime's optimizer and quantizer log advice on the root logger; the stage reports its own lines."""
    level = logging.root.level
    logging.root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logging.root.setLevel(level)


def quantized_model(source: Path, dest: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The fused operators (com.microsoft) defeat the quantizer's shape inference: their outputs are float.
    with quiet_root_logger():
        quantize_dynamic(
            str(source),
            str(dest),
            weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


# --- the stage -----------------------------------------------------------------------------------


def improve_model(
    settings: Settings, inspection: Inspection, bundle: Path, probes: list[Probe], work: Path, reporter: Reporter
) -> list[Trial]:
    """Try optimize, then quantize, on the bundle's model; leave the one to serve in the bundle."""
    model = bundle / str(inspection.spec["model_file"])
    if not settings.optimize and settings.quantize == "none":
        record_served(inspection, bundle, str(inspection.spec["sha256"]))
        return []
    if external_data_files(model):
        if settings.quantize != "none":
            raise QualityGateError(
                f"quantize: {settings.quantize} needs the weights inside {model.name}, which "
                "keeps them in external data files",
                "set quantize: none",
            )
        reporter.warn(f"optimize skipped: {model.name} keeps its weights in external data files")
        return []
    work.mkdir(parents=True, exist_ok=True)
    original = predictor_for(bundle, model)
    jobs = golden_jobs(original, probes)
    reference = [original.run_job(job) for job in jobs]
    trials, served = [], model
    if settings.optimize:
        trial = try_optimize(model, bundle, work, reference, jobs)
        reporter.info(f"    {trial.describe()}")
        trials.append(trial)
        served = work / "optimized.onnx" if trial.served else model
    if settings.quantize == "int8":
        trial = try_int8(settings, served, model, bundle, work, reference, jobs, original)
        reporter.info(f"    {trial.describe()}")
        trials.append(trial)
        served = work / "int8.onnx"
    if served != model:
        # Renamed over the bundle's entry, never written into it: that entry may be a hard link to the user's file.
        os.replace(served, model)
    record_served(inspection, bundle, sha256_of(model))
    return trials


def try_optimize(model: Path, bundle: Path, work: Path, reference: list[Any], jobs: list[Any]) -> Trial:
    candidate = work / "optimized.onnx"
    try:
        fused = optimized_model(model, candidate)
    except Exception as err:  # onnxruntime's optimizer raises anything; the original is then served as it is
        return Trial.measured(
            "optimize",
            False,
            Comparison(),
            model,
            model,
            why=f"the optimizer failed: {err.__class__.__name__}: {first_line(str(err), 200)}",
        )
    optimized = predictor_for(bundle, candidate)
    found = compare(reference, [optimized.run_job(job) for job in jobs])
    served = found.within and found.agreement == 1.0
    why = (
        ""
        if served
        else (
            f"{found.decisions - found.equal} class decisions changed"
            if found.agreement < 1
            else f"outputs differ by more than {TOLERANCE:g}; the original is served"
        )
    )
    return Trial.measured("optimize", served, found, model, candidate, fused=fused, why=why)


def try_int8(
    settings: Settings,
    source: Path,
    model: Path,
    bundle: Path,
    work: Path,
    reference: list[Any],
    jobs: list[Any],
    original: Any,
) -> Trial:
    candidate = work / "int8.onnx"
    try:
        quantized_model(source, candidate)
    except Exception as err:  # the quantizer raises anything
        raise QualityGateError(
            f"onnxruntime's quantizer failed on {model.name}: {err.__class__.__name__}: {first_line(str(err), 200)}",
            "set quantize: none",
        ) from err
    int8 = predictor_for(bundle, candidate)
    found = compare(reference, [int8.run_job(job) for job in jobs])
    if not found.decisions:
        raise QualityGateError(
            "quantize: int8 has no class decisions to compare on the golden set (the model "
            "gives no labels or class scores)",
            "set quantize: none for this model",
        )
    before, after = seconds_per_run([original, int8], jobs[0])
    trial = Trial.measured("int8", True, found, model, candidate, speedup=before / after)
    if found.agreement < settings.min_agreement:
        raise QualityGateError(
            f"the int8 model agrees with the original on {found.equal} of {found.decisions} "
            f"class decisions ({found.agreement:.2%}), below min-agreement "
            f"{settings.min_agreement:g}; max score difference {found.max_abs_diff:.3g}, "
            f"{mb(trial.size_before)} -> {mb(trial.size_after)}, "
            f"{trial.speedup:.2f}x faster on the runner",
            f"set min-agreement to {found.agreement:.2f} or lower to accept it, "
            "or quantize: none to serve the fp32 model",
        )
    return trial


def record_served(inspection: Inspection, bundle: Path, served_sha256: str) -> None:
    """serve.json and the labels keep the original's sha256 (the registered model) and add the served file's."""
    inspection.serve = replace(inspection.serve, served_sha256=served_sha256)
    inspection.serve.write(bundle)
