"""A model folder or .onnx file already on the runner."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..disk import Placer
from ..errors import ModelSourceError
from ..settings import Settings, require
from .base import COMPANION_FILES, FetchedModel, check_sha256, external_data_files, pick_model_file, sha256_of


def place_companions(model_file: Path, dest: Path, place: Placer) -> None:
    """A single .onnx brings the files beside it that belong to it: tokenizer, config, external data."""
    names = [*COMPANION_FILES, *external_data_files(model_file)]
    for name in names:
        if (model_file.parent / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            place(model_file.parent / name, dest / name)


def fetch_local(settings: Settings, dest: Path) -> FetchedModel:
    require(settings, "model-path", why="model-source local")
    source = Path(settings.model_path).expanduser()
    if not source.exists():
        raise ModelSourceError(
            f"model-path {source} does not exist",
            "point model-path at a model folder or an .onnx file in the workspace",
        )
    # Hard links, not copies: the user's files are never moved or written, and cost no space twice.
    place = Placer()
    if source.is_file():
        place(source, dest / source.name)
        place_companions(source, dest, place)
        model_file = source.name
    else:
        shutil.copytree(source, dest, copy_function=place, dirs_exist_ok=True)
        model_file = pick_model_file(dest, settings.model_file)
    place.report(f"model-path {source}")
    sha256 = sha256_of(dest / model_file)
    check_sha256(settings.model_sha256, sha256, str(source))
    name = settings.model_name or (source.stem if source.is_file() else source.resolve().name)
    version = settings.model_version if settings.model_version != "latest" else sha256[:12]
    return FetchedModel(
        folder=dest,
        model_file=model_file,
        name=name,
        version=version,
        sha256=sha256,
        origin=repository_path(settings, source),
    )


def repository_path(settings: Settings, source: Path) -> str:
    """Where the model lives: its path at this commit of the repository when it is inside the checkout."""
    try:
        relative = source.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(source)
    if settings.source_url and settings.revision:
        return f"{settings.source_url}/tree/{settings.revision}/{relative}"
    return relative
