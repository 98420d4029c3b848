"""Model sources share one interface: fetch(settings, dest) -> FetchedModel."""

from __future__ import annotations

from pathlib import Path

from ..settings import Mask, Settings, ignore
from .base import FetchedModel


def check_source(settings: Settings) -> None:
    """The source's own inputs, checked before anything touches the engine or the network."""
    if settings.model_source == "url":
        from .url import check_urls

        check_urls(settings)
    elif settings.model_source == "azureml":
        from .azureml import place_of

        place_of(settings)


def fetch(settings: Settings, dest: Path, mask: Mask = ignore) -> FetchedModel:
    """Bring the model named by `settings` into `dest` (a fresh folder); `mask` sees tokens learned on the way."""
    if settings.model_source == "local":
        from .local import fetch_local

        return fetch_local(settings, dest)
    if settings.model_source == "url":
        from .url import fetch_url

        return fetch_url(settings, dest)
    from .azureml import fetch_azureml

    return fetch_azureml(settings, dest, mask)


__all__ = ["FetchedModel", "check_source", "fetch"]
