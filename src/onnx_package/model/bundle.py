"""The model bundle: exactly the files the image serves from, gathered in one flat folder.

The .onnx file, its external data files, tokenizer.json and config.json. Nothing else from
the model folder (checkpoints, notebooks) goes into the image.
"""

from __future__ import annotations

from pathlib import Path

from ..disk import Placer
from ..errors import ModelError
from ..settings import Settings
from ..sources import FetchedModel
from .tokenizer import resolve_tokenizer


def external_data_files(model_path: Path) -> list[str]:
    """Relative locations of the tensors stored outside the .onnx file."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        proto = onnx.load_model(str(model_path), load_external_data=False)
    except (DecodeError, ValueError, OSError) as err:
        raise ModelError(f"{model_path.name} is not a valid ONNX model ({err.__class__.__name__}: {err})",
                         "re-export the model to ONNX (or upload the .onnx file itself, not a checkpoint)") from err
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


def place_model(model_path: Path, dest: Path) -> None:
    """Hard links to the fetched files (the same bytes, no second copy)."""
    place = Placer()
    place(model_path, dest / model_path.name)
    for location in external_data_files(model_path):
        source = model_path.parent / location
        if not source.is_file():
            raise ModelError(f"{model_path.name} stores weights in {location}, which is missing",
                             f"upload {location} beside {model_path.name} (ONNX external data)")
        (dest / location).parent.mkdir(parents=True, exist_ok=True)
        place(source, dest / location)
    place.report("the model")


def assemble_bundle(settings: Settings, model: FetchedModel, dest: Path) -> bool:
    """Fill `dest`; True when a tokenizer came with the model."""
    dest.mkdir(parents=True, exist_ok=True)
    place_model(model.model_path, dest)
    return resolve_tokenizer(settings, model.model_path, model.folder, dest)
