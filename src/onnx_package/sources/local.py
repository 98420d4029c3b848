"""A model folder or .onnx file already on the runner."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import ModelSourceError
from ..settings import Settings, require
from .base import FetchedModel, check_sha256, pick_model_file, sha256_of


def fetch_local(settings: Settings, dest: Path) -> FetchedModel:
    require(settings, "model-path", why="model-source local")
    source = Path(settings.model_path).expanduser()
    if not source.exists():
        raise ModelSourceError(f"model-path {source} does not exist",
                               "point model-path at a model folder or an .onnx file in the workspace")
    if source.is_file():
        shutil.copy2(source, dest / source.name)
        # External data files sit beside the .onnx; copy them too.
        for sibling in source.parent.glob(source.name + "*"):
            if sibling != source and sibling.is_file():
                shutil.copy2(sibling, dest / sibling.name)
        model_file = source.name
    else:
        shutil.copytree(source, dest, dirs_exist_ok=True)
        model_file = pick_model_file(dest, settings.model_file)
    sha256 = sha256_of(dest / model_file)
    check_sha256(settings.model_sha256, sha256, str(source))
    name = settings.model_name or (source.stem if source.is_file() else source.resolve().name)
    version = settings.model_version if settings.model_version != "latest" else sha256[:12]
    return FetchedModel(folder=dest, model_file=model_file, name=name, version=version, sha256=sha256)
