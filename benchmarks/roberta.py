"""The benchmark's model: a RoBERTa-base-sized sentiment classifier with random weights.

    python benchmarks/roberta.py OUT_DIR    # model.onnx (input_ids only, output `output` [batch, 2]),
                                           # tokenizer.json + vocab.json/merges.txt, serve.json

12 layers, hidden 768, 12 heads, vocabulary 50265: the shape of the ONNX-zoo roberta-sequence-classification
model the tutorial serves. The byte-level BPE tokenizer is trained on the spot (no download); the
tutorial's slow Python tokenizer reads its vocab.json and merges.txt, the server its tokenizer.json.
Needs torch and transformers (the benchmark machine has them; the image never does).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from onnx_serve.spec import TEXT_TASK, ServeSpec

VOCAB_SIZE = 50265
MAX_LENGTH = 512
SENTENCES = [
    "Containers are good",
    "The deployment was slow and the logs were useless",
    "I think these tools are really amazing and reliable",
    "Images built on the runner are pushed to every registry by digest",
    "The model answers within a few milliseconds on two cores",
    "Honestly the results were terrible today",
] * 50


def train_tokenizer(out: Path) -> None:
    from tokenizers import ByteLevelBPETokenizer, processors

    tokenizer = ByteLevelBPETokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer.train_from_iterator(SENTENCES, vocab_size=2000, min_frequency=1, special_tokens=specials)
    tokenizer.save_model(str(out))  # vocab.json + merges.txt, for the tutorial's Python tokenizer
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer.save(str(out / "tokenizer.json"))


def export_model(out: Path) -> None:
    import torch
    from transformers import RobertaConfig, RobertaForSequenceClassification

    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=VOCAB_SIZE, num_labels=2, attn_implementation="eager")
    model = RobertaForSequenceClassification(config).eval()
    ids = torch.tensor([[0, 100, 200, 300, 2]], dtype=torch.long)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (ids,),
            str(out / "model.onnx"),
            input_names=["input_ids"],
            output_names=["output"],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "output": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


def make(out: Path) -> Path:
    """The model folder as the packager lays it out; built once (kept in `out`)."""
    if (out / "serve.json").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    train_tokenizer(out)
    export_model(out)
    ServeSpec("roberta", "1", TEXT_TASK, labels=("negative", "positive"), max_length=MAX_LENGTH).write(out)
    return out


if __name__ == "__main__":
    print(make(Path(sys.argv[1])))
