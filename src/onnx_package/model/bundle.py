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
from ..sources.base import external_data_files
from .tokenizer import resolve_tokenizer


def place_model(model_path: Path, dest: Path) -> None:
    """Hard links to the fetched files (the same bytes, no second copy)."""
    place = Placer()
    place(model_path, dest / model_path.name)
    for location in external_data_files(model_path):
        source = model_path.parent / location
        if not source.is_file():
            raise ModelError(
                f"{model_path.name} stores weights in {location}, which is missing",
                f"upload {location} beside {model_path.name} (ONNX external data)",
            )
        (dest / location).parent.mkdir(parents=True, exist_ok=True)
        place(source, dest / location)
    place.report("the model")


def assemble_bundle(settings: Settings, model: FetchedModel, dest: Path) -> bool:
    """Fill `dest`; True when a tokenizer came with the model."""
    dest.mkdir(parents=True, exist_ok=True)
    place_model(model.model_path, dest)
    return resolve_tokenizer(settings, model.model_path, model.folder, dest)
