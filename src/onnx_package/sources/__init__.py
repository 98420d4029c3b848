"""Model sources share one interface: fetch(settings, dest) -> FetchedModel."""

from __future__ import annotations

from pathlib import Path

from ..settings import Settings
from .base import FetchedModel


def fetch(settings: Settings, dest: Path) -> FetchedModel:
    """Bring the model named by `settings` into `dest` (a fresh folder)."""
    if settings.model_source == "local":
        from .local import fetch_local as fetcher
    elif settings.model_source == "url":
        from .url import fetch_url as fetcher
    else:
        from .azureml import fetch_azureml as fetcher
    return fetcher(settings, dest)


__all__ = ["FetchedModel", "fetch"]
