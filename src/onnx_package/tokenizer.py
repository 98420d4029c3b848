"""Find or make the fast `tokenizer.json` that the image tokenizes with.

Resolved on the runner at package time (with transformers when the tokenizer is not
already in the fast format); the image only ever reads the file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .errors import ModelError
from .settings import Settings

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def beside(model_path: Path, root: Path) -> Path | None:
    """The folder next to the model (or the model folder's root) holding tokenizer files."""
    for folder in (model_path.parent, root):
        if any((folder / name).is_file() for name in TOKENIZER_FILES):
            return folder
    return None


def convert_to_fast(source: str, dest: Path) -> None:
    """Load with transformers (a path or a Hub id) and save the fast tokenizer.json."""
    from transformers import AutoTokenizer  # slow import; only needed here

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
    except (OSError, ValueError) as err:
        raise ModelError(f"tokenizer {source!r} could not be loaded ({str(err).splitlines()[0]})",
                         "give tokenizer as a folder with tokenizer.json (or tokenizer_config.json and vocab files), "
                         "or a Hugging Face Hub id reachable from the runner") from err
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(f"tokenizer {source!r} has no fast (Rust) version",
                         "export a tokenizer.json with the tokenizers library and place it beside the model")
    tokenizer.backend_tokenizer.save(str(dest / "tokenizer.json"))


def resolve_tokenizer(settings: Settings, model_path: Path, root: Path, dest: Path) -> bool:
    """Put tokenizer.json (and config.json when present) into `dest`; False when the model has none."""
    if settings.tokenizer:
        source = settings.tokenizer
        folder = Path(source).expanduser()
        if folder.is_dir() and (folder / "tokenizer.json").is_file():
            shutil.copy2(folder / "tokenizer.json", dest / "tokenizer.json")
        else:
            convert_to_fast(str(folder) if folder.is_dir() else source, dest)
        copy_config(folder if folder.is_dir() else None, dest)
        return True
    folder = beside(model_path, root)
    if folder is None:
        return False
    if (folder / "tokenizer.json").is_file():
        shutil.copy2(folder / "tokenizer.json", dest / "tokenizer.json")
    else:
        convert_to_fast(str(folder), dest)
    copy_config(folder, dest)
    return True


def copy_config(folder: Path | None, dest: Path) -> None:
    for name in ("config.json", "tokenizer_config.json"):
        if folder is not None and (folder / name).is_file() and not (dest / name).exists():
            shutil.copy2(folder / name, dest / name)
