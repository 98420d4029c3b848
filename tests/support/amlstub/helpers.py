"""Inputs for the tests: Settings as the CLI builds them, the --sdk-auth JSON, model folders."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from onnx_package.settings import Secret, Settings

from .world import SUBSCRIPTION, TENANT


def settings_for(**values: Any) -> Settings:
    """Settings as the CLI would build them, with this process's environment."""
    if isinstance(values.get("azure_credentials"), str):
        values["azure_credentials"] = Secret(values["azure_credentials"])
    return replace(Settings(), environ=dict(os.environ), **values)


def workspace_settings(**values: Any) -> Settings:
    base: dict[str, Any] = {
        "subscription_id": SUBSCRIPTION,
        "resource_group": "rg",
        "workspace": "ws",
        "model_name": "wine",
    }
    return settings_for(**{**base, **values})


def sdk_auth(client_id: str, secret: str, subscription: str = SUBSCRIPTION) -> str:
    """The azure-credentials JSON of `az ad sp create-for-rbac --sdk-auth`."""
    return json.dumps(
        {
            "clientId": client_id,
            "clientSecret": secret,
            "subscriptionId": subscription,
            "tenantId": TENANT,
            "activeDirectoryEndpointUrl": "https://login.microsoftonline.com",
            "resourceManagerEndpointUrl": "https://management.azure.com/",
        }
    )


def model_folder(root: Path, name: str = "model_v1", files: dict[str, bytes] | None = None) -> Path:
    """A model folder with nested files (not a real ONNX graph: the sources only move bytes)."""
    folder = root / name
    for rel, data in (
        files
        or {
            "onnx/model.onnx": b"onnx-bytes:" + name.encode(),
            "tokenizer.json": b"{}",
            "config.json": b'{"id2label": {}}',
        }
    ).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder
