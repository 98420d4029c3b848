"""What every model source hands to the rest of the pipeline."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError

# Files beside an .onnx that describe it (tokenizer, labels); they travel with a single-file model.
COMPANION_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "sentencepiece.bpe.model",
    "spiece.model",
)


@dataclass(frozen=True)
class FetchedModel:
    folder: Path  # holds model_file, its external data and any tokenizer/config files
    model_file: str  # path of the .onnx relative to folder
    name: str
    version: str
    sha256: str  # of the .onnx file
    origin: str = ""  # where it came from: the Azure ML asset id, the URL (no query), the repository path

    @property
    def model_path(self) -> Path:
        return self.folder / self.model_file


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pick_model_file(folder: Path, wanted: str) -> str:
    """The one .onnx in `folder` (searched recursively), or the one `model-file` names."""
    found = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.onnx"))
    if wanted:
        matches = [f for f in found if f == wanted or f.endswith("/" + wanted)]
        if len(matches) == 1:
            return matches[0]
        raise ModelError(
            f"model-file {wanted!r} is not among the model's .onnx files {found}",
            "set model-file to one of those paths",
        )
    if not found:
        raise ModelError(
            f"no .onnx file found in {folder}",
            "point model-path at a folder holding an .onnx file, or at the .onnx file itself",
        )
    if len(found) > 1:
        raise ModelError(
            f"the model folder holds several .onnx files: {', '.join(found)}", "set model-file to the one to serve"
        )
    return found[0]


def check_sha256(expected: str, actual: str, what: str) -> None:
    if expected and expected.lower() != actual:
        raise ModelError(
            f"sha256 of {what} is {actual}, not the expected {expected}",
            "check that model-sha256 names this model version, or update model-sha256",
        )


def external_data_files(model_path: Path) -> list[str]:
    """Relative locations of the tensors stored outside the .onnx file."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        proto = onnx.load_model(str(model_path), load_external_data=False)
    except (DecodeError, ValueError, OSError) as err:
        raise ModelError(
            f"{model_path.name} is not a valid ONNX model ({err.__class__.__name__}: {err})",
            "re-export the model to ONNX (or upload the .onnx file itself, not a checkpoint)",
        ) from err
    locations: set[str] = set()
    graphs = [proto.graph]
    while graphs:
        graph = graphs.pop()
        tensors = list(graph.initializer)
        for node in graph.node:
            for attribute in node.attribute:
                tensors.extend([attribute.t] if attribute.HasField("t") else attribute.tensors)
                graphs.extend([attribute.g] if attribute.HasField("g") else attribute.graphs)
        for tensor in tensors:
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                locations.update(entry.value for entry in tensor.external_data if entry.key == "location")
    return sorted(locations)
