"""Find or make the fast `tokenizer.json` that the image tokenizes with.

Resolved on the runner at package time (with transformers when the tokenizer is not
already in the fast format); the image only ever reads the file.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ModelError, first_line
from ..settings import Settings

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def beside(model_path: Path, root: Path) -> Path | None:
    """The folder next to the model (or the model folder's root) holding tokenizer files."""
    for folder in (model_path.parent, root):
        if any((folder / name).is_file() for name in TOKENIZER_FILES):
            return folder
    return None


def hub_options(environ: Mapping[str, str]) -> dict[str, Any]:
    """Honour the Hub's own variables from the run's environment: cache, offline mode, token."""
    home = Path(environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    offline = environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    return {
        "cache_dir": environ.get("HF_HUB_CACHE") or str(home / "hub"),
        "local_files_only": offline,
        "token": environ.get("HF_TOKEN") or None,
    }


def convert_to_fast(source: str, dest: Path, environ: Mapping[str, str]) -> None:
    """Load with transformers (a path or a Hub id) and save the fast tokenizer.json."""
    from transformers import AutoTokenizer  # slow import; only needed here

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True, **hub_options(environ))
    except (OSError, ValueError) as err:
        raise ModelError(
            f"tokenizer {source!r} could not be loaded ({first_line(str(err))})",
            "give tokenizer as a folder with tokenizer.json (or tokenizer_config.json and vocab files), "
            "or a Hugging Face Hub id reachable from the runner",
        ) from err
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(
            f"tokenizer {source!r} has no fast (Rust) version",
            "export a tokenizer.json with the tokenizers library and place it beside the model",
        )
    with tempfile.TemporaryDirectory() as saved:
        tokenizer.save_pretrained(saved)  # tokenizer.json, and tokenizer_config.json with model_max_length
        for name in TOKENIZER_FILES:
            if (Path(saved) / name).is_file() and not (dest / name).exists():
                shutil.copy2(Path(saved) / name, dest / name)


def resolve_tokenizer(settings: Settings, model_path: Path, root: Path, dest: Path) -> bool:
    """Put tokenizer.json (and config.json when present) into `dest`; False when the model has none."""
    if settings.tokenizer:
        source = settings.tokenizer
        folder = Path(source).expanduser()
        if folder.is_dir() and (folder / "tokenizer.json").is_file():
            shutil.copy2(folder / "tokenizer.json", dest / "tokenizer.json")
        else:
            convert_to_fast(str(folder) if folder.is_dir() else source, dest, settings.environ)
        copy_model_config(model_path, root, dest)
        copy_config(folder if folder.is_dir() else None, dest)
        return True
    found = beside(model_path, root)
    if found is None:
        return False
    if (found / "tokenizer.json").is_file():
        shutil.copy2(found / "tokenizer.json", dest / "tokenizer.json")
    else:
        convert_to_fast(str(found), dest, settings.environ)
    copy_config(found, dest)
    return True


def copy_config(folder: Path | None, dest: Path) -> None:
    for name in ("config.json", "tokenizer_config.json"):
        if folder is not None and (folder / name).is_file() and not (dest / name).exists():
            shutil.copy2(folder / name, dest / name)


def copy_model_config(model_path: Path, root: Path, dest: Path) -> None:
    """The model's own config.json (its labels) wins over the one of a tokenizer given separately."""
    for folder in (model_path.parent, root):
        if (folder / "config.json").is_file() and not (dest / "config.json").exists():
            shutil.copy2(folder / "config.json", dest / "config.json")
