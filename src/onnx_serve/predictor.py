"""The model behind the server, transport-free: load a model folder, run jobs on it.

    predictor = Predictor.load(Path("/opt/onnx-serve/model"))
    predictor.classify(["Containers are good"])      # text: probabilities [n, n_labels]
    predictor.predict_rows(np.ones((2, 4)))          # tabular: {output name: per-row values}
    predictor.run({"x": array})                      # any model: {output name: value}

A job (`Texts`, `Rows` or `Feeds`) is one request's worth of work; `run_batch` runs several
compatible jobs (same `batch_key`) in one `session.run` and splits the answers back.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidArgument

from .errors import RequestError
from .runtime import open_model
from .spec import TEXT_TASK, ModelError, ServeSpec
from .tensors import TensorSpec
from .text import TextEncoder

log = logging.getLogger("onnx_serve")

TOKENIZER_FILE = "tokenizer.json"


@dataclass(frozen=True)
class Texts:
    texts: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def work(self) -> int:
        """What the run time grows with: the texts are padded to the longest."""
        return len(self.texts) * (1 + max(map(len, self.texts), default=0))


@dataclass(frozen=True)
class Rows:
    x: np.ndarray  # [n, n_features] in the model's float dtype

    def __len__(self) -> int:
        return len(self.x)

    @property
    def work(self) -> int:
        return int(self.x.size)


@dataclass(frozen=True)
class Feeds:
    feeds: dict[str, np.ndarray]  # exactly the model's inputs, in their dtypes

    def __len__(self) -> int:
        first = next(iter(self.feeds.values()))
        return len(first) if first.ndim else 1

    @property
    def work(self) -> int:
        return sum(int(a.size) for a in self.feeds.values())


Job = Texts | Rows | Feeds
Outputs = dict[str, Any]  # output name -> ndarray (or a list, for sequence outputs such as ZipMap)


class Predictor:
    def __init__(self, spec: ServeSpec, session: ort.InferenceSession, encoder: TextEncoder | None) -> None:
        self.spec = spec
        self.session = session
        self.encoder = encoder
        self.inputs = tuple(TensorSpec.of(node) for node in session.get_inputs())
        self.outputs = tuple(TensorSpec.of(node) for node in session.get_outputs())
        self.load_seconds = 0.0
        self.max_text_batch = 64
        self._feeds_batchable = all(t.shape and t.batch_dim is None for t in self.inputs + self.outputs)

    @classmethod
    def load(cls, model_dir: Path, threads: int | None = None) -> Predictor:
        """Read serve.json, create the session (threads: the container's CPU quota by default)."""
        started = time.perf_counter()
        spec, session = open_model(model_dir, threads)
        return cls.opened(model_dir, spec, session, started)

    @classmethod
    def opened(cls, model_dir: Path, spec: ServeSpec, session: ort.InferenceSession, started: float) -> Predictor:
        """The predictor of a session `runtime.open_model` created (`started`: when loading began)."""
        encoder = None
        if spec.task == TEXT_TASK:
            model_inputs = [TensorSpec.of(node) for node in session.get_inputs()]
            encoder = TextEncoder.load(model_dir / TOKENIZER_FILE, model_inputs, spec.max_length)
        predictor = cls(spec, session, encoder)
        predictor.check_task()
        predictor.load_seconds = time.perf_counter() - started
        return predictor

    def check_task(self) -> None:
        if self.spec.task == "tabular" and (len(self.inputs) != 1 or self.feature_dtype is None):
            raise ModelError(f"a tabular model takes one float input [batch, n_features], this one takes {self.inputs}")

    # --- what the protocol needs to know --------------------------------------------------------

    @property
    def feature_dtype(self) -> np.dtype | None:
        """The float dtype of a tabular model's input."""
        dtype = self.inputs[0].dtype if self.inputs else None
        return dtype if dtype is not None and dtype.kind == "f" else None

    @property
    def feature_count(self) -> int | None:
        shape = self.inputs[0].shape
        return shape[1] if len(shape) == 2 else None

    def label_names(self, count: int) -> tuple[str, ...]:
        """The class labels of a text model: serve.json's when they fit, else LABEL_i."""
        labels = self.spec.labels
        if labels is not None and len(labels) == count:
            return labels
        return tuple(f"LABEL_{i}" for i in range(count))

    # --- running ----------------------------------------------------------------------------------

    def run(self, feeds: dict[str, np.ndarray], output_names: Sequence[str] | None = None) -> Outputs:
        names = list(output_names) if output_names else [t.name for t in self.outputs]
        return dict(zip(names, self.session.run(names, feeds), strict=True))

    def classify(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities [n, n_labels] for a text model (softmax applied to logits).

        Runs at most `max_text_batch` texts at once: attention memory grows with batch x length².
        """
        assert self.encoder is not None, "classify() needs a text-classification model"
        step = self.max_text_batch
        if len(texts) <= step:  # as few numpy calls as can be on a lone request's path: each costs when cold
            return self._classify(texts)
        return np.concatenate([self._classify(texts[start : start + step]) for start in range(0, len(texts), step)])

    def _classify(self, texts: Sequence[str]) -> np.ndarray:
        assert self.encoder is not None
        first = self.outputs[0].name
        parts = [
            (rows, np.asarray(self._run_padded(feeds, [first])[first]).reshape(len(rows), -1))
            for rows, feeds in self.encoder.encode(texts)
        ]
        if len(parts) == 1:  # the texts were padded together: the rows are in the texts' order
            return probabilities(parts[0][1])
        scores = np.empty((len(texts), parts[0][1].shape[1]), dtype=np.float32)
        for rows, values in parts:
            scores[rows] = values
        return probabilities(scores)

    def predict_rows(self, x: np.ndarray) -> Outputs:
        """A tabular model's outputs for the rows of x, as the model gives them."""
        return self._run_padded({self.inputs[0].name: x})

    def run_job(self, job: Job) -> Any:
        if isinstance(job, Texts):
            return self.classify(job.texts)
        if isinstance(job, Rows):
            return self.predict_rows(job.x)
        try:
            return self.run(job.feeds)
        except (InvalidArgument, Fail) as e:  # raw tensors come from the client
            raise RequestError(f"onnxruntime rejected the inputs: {e}") from e

    def batch_key(self, job: Job) -> Any:
        """Jobs with equal keys can share one session.run."""
        if isinstance(job, Feeds):
            if not self._feeds_batchable or len({a.shape[:1] for a in job.feeds.values()}) != 1:
                return id(job)  # runs alone
            return tuple((name, a.dtype.str, a.shape[1:]) for name, a in sorted(job.feeds.items()))
        return type(job)

    def run_batch(self, jobs: Sequence[Job]) -> list[Any]:
        """Results of jobs that share a batch_key, from one session.run."""
        if len(jobs) == 1:
            return [self.run_job(jobs[0])]
        result = self.run_job(_merge(jobs))
        return _split(result, [len(job) for job in jobs])

    def warm_up(self) -> None:
        """One inference, so that the first request does not pay for lazy initialisation."""
        if self.spec.task == TEXT_TASK:
            self.classify(["warm up"])
        elif self.spec.task == "tabular":
            self.predict_rows(np.zeros((1, self.feature_count or 1), dtype=self.feature_dtype))
        else:
            try:
                self.run({t.name: np.zeros([d or 1 for d in t.shape], dtype=t.dtype) for t in self.inputs})
            except Exception as e:  # a tensor model may refuse zeros; that says nothing about serving
                log.warning("warm-up with zero inputs failed (%s); serving anyway", e)

    def _run_padded(self, feeds: dict[str, np.ndarray], output_names: Sequence[str] | None = None) -> Outputs:
        """Run, in chunks padded to the batch size when the model was exported with a fixed one."""
        fixed = self.inputs[0].batch_dim
        n = len(next(iter(feeds.values())))
        if fixed is None or fixed == n:
            return self.run(feeds, output_names)
        parts = []
        for start in range(0, n, fixed):
            chunk = {name: _pad_rows(value[start : start + fixed], fixed) for name, value in feeds.items()}
            kept = min(fixed, n - start)
            parts.append({name: value[:kept] for name, value in self.run(chunk, output_names).items()})
        return {name: _concat([part[name] for part in parts]) for name in parts[0]}


def probabilities(scores: np.ndarray) -> np.ndarray:
    """Rows that already are probabilities stay; logits get a softmax."""
    scores = scores.astype(np.float32, copy=False)
    if scores.size and scores.min() >= 0 and np.allclose(scores.sum(axis=1), 1.0, atol=1e-4):
        return scores
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs: np.ndarray = shifted / shifted.sum(axis=1, keepdims=True)
    return probs


def _merge(jobs: Sequence[Job]) -> Job:
    first = jobs[0]
    if isinstance(first, Texts):
        return Texts([t for job in jobs for t in job.texts])  # type: ignore[union-attr]
    if isinstance(first, Rows):
        return Rows(np.concatenate([job.x for job in jobs]))  # type: ignore[union-attr]
    return Feeds({name: np.concatenate([job.feeds[name] for job in jobs]) for name in first.feeds})  # type: ignore[union-attr]


def _split(result: Any, sizes: list[int]) -> list[Any]:
    offsets = np.cumsum([0, *sizes]).tolist()
    bounds = list(itertools.pairwise(offsets))
    if isinstance(result, dict):
        return [{name: value[a:b] for name, value in result.items()} for a, b in bounds]
    return [result[a:b] for a, b in bounds]


def _pad_rows(x: np.ndarray, size: int) -> np.ndarray:
    """Repeat the last row up to `size` rows (for models with a fixed batch size)."""
    missing = size - len(x)
    return x if missing <= 0 else np.concatenate([x, np.repeat(x[-1:], missing, axis=0)])


def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return [item for part in parts for item in part]
