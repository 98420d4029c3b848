"""Azure login and cloud endpoints, shared by the Azure ML source and the ACR token exchange.

Credentials, first match wins:
1. `azure-credentials`: the `az ad sp create-for-rbac --sdk-auth` JSON -> ClientSecretCredential;
2. `client-id` + `tenant-id` in a job with `permissions: id-token: write` -> ClientAssertionCredential
   that fetches a fresh GitHub OIDC token each time Azure AD asks for one;
3. otherwise DefaultAzureCredential (azure/login, AZURE_* variables, workload or managed identity).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientAssertionCredential, ClientSecretCredential, DefaultAzureCredential

from .. import retry
from ..errors import PackageError, SettingsError, first_line
from ..settings import Mask, Settings, ignore
from .azure_credentials import service_principal

log = logging.getLogger(__name__)


class AzureLoginError(PackageError):
    title = "Azure login failed"


GITHUB_AUDIENCE = "api://AzureADTokenExchange"
OIDC_ATTEMPTS = retry.OIDC.attempts

# The endpoints azure-ai-ml knows by name (azure/ai/ml/_azure_environments.py).
BUILTIN_CLOUDS: dict[str, dict[str, str]] = {
    "AzureCloud": {
        "resource_manager": "https://management.azure.com/",
        "active_directory": "https://login.microsoftonline.com/",
        "storage_endpoint": "core.windows.net",
    },
    "AzureChinaCloud": {
        "resource_manager": "https://management.chinacloudapi.cn/",
        "active_directory": "https://login.chinacloudapi.cn/",
        "storage_endpoint": "core.chinacloudapi.cn",
    },
    "AzureUSGovernment": {
        "resource_manager": "https://management.usgovcloudapi.net/",
        "active_directory": "https://login.microsoftonline.us/",
        "storage_endpoint": "core.usgovcloudapi.net",
    },
}
CUSTOM_REQUIRED = ("resource_manager", "active_directory", "storage_endpoint", "registry_discovery_endpoint")
CUSTOM_EXAMPLE = (
    '{"name": "AzureStack", "resource_manager": "https://management.example/", '
    '"active_directory": "https://login.example/", "storage_endpoint": "core.example", '
    '"registry_discovery_endpoint": "https://region.api.ml.example/"}'
)


@dataclass(frozen=True)
class Cloud:
    name: str  # what MLClient gets as `cloud`
    resource_manager: str  # e.g. https://management.azure.com/
    active_directory: str  # the authority host, e.g. https://login.microsoftonline.com/
    storage_endpoint: str  # blob host suffix, e.g. core.windows.net
    metadata: Mapping[str, str] | None = None  # custom clouds only: MLClient's cloud_metadata

    @property
    def resource_manager_scope(self) -> str:
        return self.resource_manager.rstrip("/") + "/.default"

    def mlclient_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"cloud": self.name}
        if self.metadata is not None:
            kwargs["cloud_metadata"] = dict(self.metadata)
        return kwargs


def cloud_of(settings: Settings) -> Cloud:
    """The `cloud` input: a built-in name (any case) or a JSON object of custom endpoints."""
    raw = settings.cloud.strip() or "AzureCloud"
    if raw.startswith("{"):
        return _custom_cloud(raw)
    for name, endpoints in BUILTIN_CLOUDS.items():
        if name.lower() == raw.lower():
            return Cloud(
                name=name,
                resource_manager=endpoints["resource_manager"],
                active_directory=endpoints["active_directory"],
                storage_endpoint=endpoints["storage_endpoint"],
            )
    raise SettingsError(
        f"cloud {raw!r} is not a known Azure cloud",
        f"set cloud to one of {', '.join(BUILTIN_CLOUDS)}, or to a JSON object like {CUSTOM_EXAMPLE}",
    )


def _custom_cloud(raw: str) -> Cloud:
    try:
        given = json.loads(raw)
    except json.JSONDecodeError as err:
        raise SettingsError(
            f"cloud is not valid JSON ({err.msg} at column {err.colno})", f"give cloud as JSON like {CUSTOM_EXAMPLE}"
        ) from None
    missing = [key for key in CUSTOM_REQUIRED if not isinstance(given, dict) or not given.get(key)]
    if missing:
        raise SettingsError(
            f"the custom cloud misses {', '.join(missing)}",
            f"give cloud as JSON with every endpoint, like {CUSTOM_EXAMPLE}",
        )
    metadata = {key: str(given[key]) for key in CUSTOM_REQUIRED}
    metadata.setdefault("azure_portal", str(given.get("azure_portal", metadata["resource_manager"])))
    metadata.setdefault("aml_resource_id", str(given.get("aml_resource_id", metadata["resource_manager"])))
    # azure-ai-ml keeps the first metadata registered under a name, so the name carries a digest of it.
    digest = hashlib.sha256(json.dumps(metadata, sort_keys=True).encode()).hexdigest()[:8]
    name = f"{given.get('name') or 'Custom'}-{digest}"
    return Cloud(
        name=name,
        resource_manager=metadata["resource_manager"],
        active_directory=metadata["active_directory"],
        storage_endpoint=metadata["storage_endpoint"],
        metadata=metadata,
    )


def subscription_id(settings: Settings) -> str:
    """The `subscription-id` input, else the one in azure-credentials."""
    principal = service_principal(settings)
    return settings.subscription_id or (principal.subscription_id if principal else "")


def identity(settings: Settings) -> str:
    """Names the identity in error messages: a client id, never a secret."""
    principal = service_principal(settings)
    if principal:
        return f"the service principal with client id {principal.client_id} (from azure-credentials)"
    if settings.client_id or settings.tenant_id:
        return f"the app with client id {settings.client_id} (OIDC login, tenant {settings.tenant_id})"
    client = settings.environ.get("AZURE_CLIENT_ID")
    if client:
        return f"the identity with client id {client} (DefaultAzureCredential, AZURE_CLIENT_ID)"
    return "the identity DefaultAzureCredential found (azure/login, managed identity or AZURE_* variables)"


def assignee(settings: Settings) -> str:
    """The client id for `az role assignment create --assignee`, when the inputs name one."""
    principal = service_principal(settings)
    if principal:
        return principal.client_id
    return settings.client_id or settings.environ.get("AZURE_CLIENT_ID") or "<client id of the login>"


class ClosableCredential(TokenCredential, Protocol):
    """What every azure-identity credential is: a TokenCredential that can be closed."""

    def close(self) -> None: ...


class MaskedCredential:
    """Hands every token it gets to `mask` first, so a token learned at run time cannot reach the log."""

    def __init__(self, inner: ClosableCredential, mask: Mask) -> None:
        self.inner, self.mask = inner, mask

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        token = self.inner.get_token(*scopes, **kwargs)
        self.mask(token.token)
        return token

    def close(self) -> None:
        self.inner.close()


def azure_credential(settings: Settings, mask: Mask = ignore) -> TokenCredential:
    """The credential for `settings`, bound to the cloud's authority host; `mask` sees every token."""
    return MaskedCredential(_credential(settings, mask), mask)


def _credential(settings: Settings, mask: Mask) -> ClosableCredential:
    cloud = cloud_of(settings)
    # Public Azure AD cannot vouch for a custom cloud's login host; skip MSAL's instance discovery there.
    options: dict[str, Any] = {
        "authority": cloud.active_directory,
        **({"disable_instance_discovery": True} if cloud.metadata else {}),
    }
    principal = service_principal(settings)
    if principal:
        return ClientSecretCredential(principal.tenant_id, principal.client_id, principal.client_secret, **options)
    if settings.client_id or settings.tenant_id:
        return ClientAssertionCredential(
            *_oidc_ids(settings), github_oidc_token(settings.environ, mask, settings.audience), **options
        )
    return DefaultAzureCredential(**options)


def _oidc_ids(settings: Settings) -> tuple[str, str]:
    if not (settings.client_id and settings.tenant_id):
        given, other = ("client-id", "tenant-id") if settings.client_id else ("tenant-id", "client-id")
        raise SettingsError(
            f"OIDC login needs both client-id and tenant-id, but only {given} is set",
            f"set {other} too (from the app registration's overview page)",
        )
    if not settings.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL"):
        raise SettingsError(
            "client-id and tenant-id ask for an OIDC login, but the job cannot request a GitHub OIDC token "
            "(ACTIONS_ID_TOKEN_REQUEST_URL is not set)",
            "add `permissions: id-token: write` to the job (and contents: read); outside GitHub Actions, leave "
            "client-id empty and log in with azure-credentials or `az login`",
        )
    return settings.tenant_id, settings.client_id


def github_oidc_token(
    environ: Mapping[str, str], mask: Mask = ignore, audience: str = GITHUB_AUDIENCE
) -> Callable[[], str]:
    """A function returning a fresh GitHub OIDC token for Azure AD (they live about ten minutes)."""
    url = environ["ACTIONS_ID_TOKEN_REQUEST_URL"]
    request_token = environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "")
    separator = "&" if "?" in url else "?"
    token_url = f"{url}{separator}audience={quote(audience, safe=':/')}"

    def attempt() -> str:
        request = urllib.request.Request(
            token_url, headers={"Authorization": f"bearer {request_token}", "Accept": "application/json"}
        )
        try:
            with urllib.request.build_opener().open(request, timeout=30) as response:
                token = str(json.load(response)["value"])
            mask(token)
        except urllib.error.HTTPError as err:
            if err.code < 500:
                raise _oidc_error(f"GitHub answered {err.code} {err.reason}") from None
            raise retry.Retry(f"GitHub answered {err.code} {err.reason}") from None
        except (urllib.error.URLError, OSError, ValueError, KeyError) as err:
            raise retry.Retry(f"{type(err).__name__}: {err}") from None
        return token

    def fetch() -> str:
        try:
            return retry.call(
                attempt,
                retry.OIDC,
                on_retry=lambda err, delay, number: log.info(
                    "GitHub OIDC token request failed (attempt %d of %d); retrying", number, OIDC_ATTEMPTS
                ),
            )
        except retry.GaveUp as err:
            raise _oidc_error(err.reason) from None

    return fetch


def _oidc_error(detail: str) -> AzureLoginError:
    return AzureLoginError(
        f"could not get a GitHub OIDC token for Azure ({detail})",
        "check the job has `permissions: id-token: write`; retry if GitHub was unavailable",
    )


def is_login_failure(err: ClientAuthenticationError, settings: Settings) -> bool:
    """True when no token came (Azure AD refused, or no credential applied); False for a service's 401."""
    if err.response is None:
        return True
    url = str(getattr(err.response.request, "url", ""))
    return urlsplit(url).hostname == urlsplit(cloud_of(settings).active_directory).hostname


def login_error(err: ClientAuthenticationError, settings: Settings) -> AzureLoginError:
    """One line naming the identity and what Azure AD said, with the fix for this kind of login."""
    said = re.sub(r"\s*Trace ID:.*?(?='|$)", "", first_line(str(err))).rstrip(". ")
    return AzureLoginError(f"Azure login failed for {identity(settings)}: {said}", login_fix(settings))


def federation_claims(settings: Settings) -> str:
    """Issuer, subject and audience of this job's GitHub OIDC token (never the token), as Azure AD compares them.
    A fresh token is read for that; without one, what GitHub documents for this server."""
    try:
        payload = github_oidc_token(settings.environ, audience=settings.audience)().split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        issuer, subject, audience = (str(claims[name]) for name in ("iss", "sub", "aud"))
    except (PackageError, KeyError, IndexError, ValueError, TypeError):
        server = settings.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        issuer = (
            "https://token.actions.githubusercontent.com"
            if server == "https://github.com"
            else f"{server}/_services/token"
        )
        subject = (
            f"repo:{settings.environ.get('GITHUB_REPOSITORY', 'OWNER/REPO')}:ref:"
            f"{settings.environ.get('GITHUB_REF', 'refs/heads/main')}"
        )
        audience = settings.audience
    return f"issuer {issuer}, subject {subject}, audience {audience}"


def login_fix(settings: Settings) -> str:
    principal = service_principal(settings)
    if principal:
        return (
            f"renew the client secret (az ad app credential reset --id {principal.client_id}) and store the "
            "new --sdk-auth JSON in the secret behind azure-credentials; check tenantId"
        )
    if settings.client_id:
        return (
            f"add a federated credential to app {settings.client_id} that matches this job's token: "
            f"{federation_claims(settings)} (a job with an environment has the subject "
            "repo:OWNER/REPO:environment:NAME); check tenant-id and audience"
        )
    return (
        "log in first: give azure-credentials, or client-id + tenant-id with permissions: id-token: write, "
        "or run azure/login before this step"
    )
