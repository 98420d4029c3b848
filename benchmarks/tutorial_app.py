"""The tutorial's way of serving the model, as the baseline: Flask, a slow Python RoBERTa tokenizer,
torch tensors, onnxruntime with default options, one text per request.

    python benchmarks/tutorial_app.py MODEL_DIR PORT

`SlowRobertaTokenizer` is the algorithm of transformers' former Python `RobertaTokenizer` (GPT-2
byte-level BPE with a regex pre-tokenizer and a per-word cache), reading vocab.json and merges.txt;
transformers 5 no longer ships it (its RobertaTokenizer is the Rust one), so it is reproduced here.
"""

from __future__ import annotations

import itertools
import json
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort
import regex
import torch
from flask import Flask, jsonify, request

PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


@lru_cache
def bytes_to_unicode() -> dict[int, str]:
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = printable[:], 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, codes), strict=True))


class SlowRobertaTokenizer:
    def __init__(self, vocab_file: Path, merges_file: Path) -> None:
        self.encoder = json.loads(vocab_file.read_text())
        merges = [tuple(line.split()) for line in merges_file.read_text().splitlines()[1:] if line]
        self.ranks = {pair: i for i, pair in enumerate(merges)}
        self.byte_encoder = bytes_to_unicode()
        self.cache: dict[str, str] = {}

    def bpe(self, token: str) -> str:
        if token in self.cache:
            return self.cache[token]
        word = tuple(token)
        while len(word) > 1:
            pairs = set(itertools.pairwise(word))
            best = min(pairs, key=lambda pair: self.ranks.get(pair, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        self.cache[token] = " ".join(word)
        return self.cache[token]

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        unknown = self.encoder["<unk>"]
        ids = []
        for token in PATTERN.findall(text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder.get(piece, unknown) for piece in self.bpe(token).split(" "))
        return [self.encoder["<s>"], *ids, self.encoder["</s>"]] if add_special_tokens else ids


def create_app(model_dir: Path) -> Flask:
    tokenizer = SlowRobertaTokenizer(model_dir / "vocab.json", model_dir / "merges.txt")
    session = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    app = Flask(__name__)

    @app.route("/predict", methods=["POST"])
    def predict():  # type: ignore[no-untyped-def]
        text = request.get_json()[0]
        input_ids = torch.tensor(tokenizer.encode(text, add_special_tokens=True)).unsqueeze(0)
        inputs = {session.get_inputs()[0].name: input_ids.detach().cpu().numpy()}
        outputs = session.run(None, inputs)
        pred = np.argmax(outputs)
        return jsonify({"positive": bool(pred)})

    @app.route("/ready")
    def ready():  # type: ignore[no-untyped-def]
        return "ok"

    return app


if __name__ == "__main__":
    create_app(Path(sys.argv[1])).run(host="127.0.0.1", port=int(sys.argv[2]), threaded=True)
