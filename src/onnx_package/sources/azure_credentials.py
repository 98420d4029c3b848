"""The `azure-credentials` input (the `az ad sp create-for-rbac --sdk-auth` JSON), read without the Azure SDK:
sources/azure_auth.py logs in with it, and the CI reporters mask its client secret."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import SettingsError
from ..settings import Settings


@dataclass(frozen=True)
class ServicePrincipal:
    client_id: str
    tenant_id: str
    client_secret: str
    subscription_id: str

    def __repr__(self) -> str:
        return f"ServicePrincipal(client_id={self.client_id!r}, tenant_id={self.tenant_id!r}, client_secret='***')"


def service_principal(settings: Settings) -> ServicePrincipal | None:
    """The `azure-credentials` JSON, or None when the input is empty."""
    raw = settings.azure_credentials.reveal().strip()
    if not raw:
        return None
    given = sdk_auth(raw)
    if given is None:
        raise SettingsError(
            "azure-credentials is not a JSON object",
            "store the output of `az ad sp create-for-rbac --sdk-auth` as the secret, "
            "e.g. azure-credentials: ${{ secrets.AZURE_CREDENTIALS }}",
        )
    missing = [key for key in ("clientId", "clientSecret", "tenantId") if not given.get(key)]
    if missing:
        raise SettingsError(
            f"azure-credentials has no {', '.join(missing)}",
            "use the JSON of `az ad sp create-for-rbac --sdk-auth` (clientId, clientSecret, subscriptionId, tenantId)",
        )
    return ServicePrincipal(
        client_id=str(given["clientId"]),
        tenant_id=str(given["tenantId"]),
        client_secret=str(given["clientSecret"]),
        subscription_id=str(given.get("subscriptionId") or ""),
    )


def sdk_auth(raw: str) -> dict[str, Any] | None:
    """The JSON object of `azure-credentials`; None when it is not one."""
    try:
        given = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return given if isinstance(given, dict) else None


def client_secret(raw: str) -> str:
    """The client secret in an `azure-credentials` value, read as service_principal reads it but never refusing
    the value: the log must not show it even when the input is then rejected."""
    given = sdk_auth(raw.strip())
    return str(given.get("clientSecret") or "").strip() if given else ""
