"""Credentials per registry, first match wins:

1. the `registry-auth` input, a YAML list like docker/login-action's
   (`- registry: ghcr.io` / `username: ...` / `password: ...`; no registry means Docker Hub);
2. the docker login state (config.json `auths`, `credsStore`, `credHelpers`; DOCKER_CONFIG honoured);
3. for Azure Container Registry (`*.azurecr.io`) with no password given: the Azure identity used for
   the model, whose Azure AD token is exchanged at `https://<acr>/oauth2/exchange` for an ACR refresh
   token (used as an identity token, so no admin user is needed).

Passwords and tokens only ever live in `Credentials` (whose repr is masked), the `X-Registry-Auth`
header the docker SDK sends to the engine, and the Authorization headers sent to the registry.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from docker import auth as docker_auth
from docker.errors import DockerException

from ..errors import PackageError, PushError, SettingsError, first_line
from ..settings import Mask, Settings, ignore
from . import distribution as api
from .refs import DOCKER_HUB

ACR_SUFFIXES = (".azurecr.io", ".azurecr.cn", ".azurecr.us")
ACR_USERNAME = "00000000-0000-0000-0000-000000000000"
EXAMPLE = (
    "registry-auth: |\n  - registry: ghcr.io\n    username: ${{ github.actor }}\n"
    "    password: ${{ secrets.GITHUB_TOKEN }}"
)
KEYS = {"registry", "username", "password"}
# docker/login-action's other keys: `scope` narrows the token docker login stores, which a push here does not
# use; `ecr` asks for an AWS key to be exchanged for an ECR token, which this action does not do.
LOGIN_ACTION_KEYS = {"scope", "ecr"}
ECR_HOST = re.compile(
    r"^(?:[0-9]{12}\.dkr[.-]ecr(?:-fips)?\.[a-z0-9-]+\.(?:amazonaws\.com(?:\.cn)?|on\.aws)"
    r"|public\.ecr\.aws)$"
)
ECR_FIX = (
    "log in first with aws-actions/amazon-ecr-login (this action then uses the docker login), or give "
    "username AWS with the password of `aws ecr get-login-password` and ecr: false"
)


@dataclass(frozen=True)
class Entry:
    registry: str
    username: str = ""
    password: str = ""

    def __repr__(self) -> str:
        return f"Entry(registry={self.registry!r}, username={self.username!r}, password='**********')"


def normalize_registry(text: str) -> str:
    """`https://index.docker.io/v1/` -> docker.io; `GHCR.io/` -> ghcr.io."""
    host = urllib.parse.urlsplit(text if "://" in text else f"//{text}").netloc.lower()
    return DOCKER_HUB if host in ("", "docker.io", "index.docker.io", "registry-1.docker.io") else host


def is_acr(registry: str) -> bool:
    return registry.split(":")[0].endswith(ACR_SUFFIXES)


# ---------------------------------------------------------------- the registry-auth input


def parse_registry_auth(raw: str) -> dict[str, Entry]:
    """The `registry-auth` YAML, checked before anything is built; errors never quote the values."""
    if not raw.strip():
        return {}
    try:
        items = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise SettingsError(f"registry-auth is not valid YAML{where}", f"write it as a YAML list:\n{EXAMPLE}") from None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise SettingsError(
            "registry-auth is not a YAML list of registry, username, password entries",
            f"write it as a YAML list:\n{EXAMPLE}",
        )
    entries: dict[str, Entry] = {}
    for number, item in enumerate(items, 1):
        entry = parse_entry(item, number)
        if entry.registry in entries:
            raise SettingsError(f"registry-auth names {entry.registry} twice", "keep one entry per registry")
        entries[entry.registry] = entry
    return entries


def parse_entry(item: dict[str, Any], number: int) -> Entry:
    unknown = sorted(str(key) for key in item if key not in KEYS | LOGIN_ACTION_KEYS)
    if unknown:
        raise SettingsError(
            f"registry-auth entry {number} has unknown keys: {', '.join(unknown)}",
            "use registry, username and password (docker/login-action's scope and ecr are read too)",
        )
    values = {key: "" if item.get(key) is None else str(item[key]) for key in KEYS}
    entry = Entry(normalize_registry(values["registry"]), values["username"], values["password"])
    check_ecr(entry, str(item.get("ecr", "auto")).lower(), number)
    if entry.password and not entry.username:
        raise SettingsError(
            f"registry-auth entry {number} ({entry.registry}) has a password but no username",
            "add the username that goes with the password",
        )
    if not entry.password and not is_acr(entry.registry):
        raise SettingsError(
            f"registry-auth entry {number} ({entry.registry}) has no password",
            "add the password (or token) for it; only Azure Container Registry entries "
            "(*.azurecr.io) may omit it to use the Azure identity",
        )
    return entry


def check_ecr(entry: Entry, ecr: str, number: int) -> None:
    """As docker/login-action decides it: `ecr: true`, or `auto` (its default) on an ECR host, means an AWS key
    exchange. Only a plain login (username AWS and a token from `aws ecr get-login-password`) works here."""
    if ecr not in ("auto", "true", "false"):
        raise SettingsError(
            f"registry-auth entry {number} ({entry.registry}) has ecr: {ecr}",
            "set ecr to auto, true or false, as docker/login-action takes it",
        )
    exchange = ecr == "true" or (ecr == "auto" and bool(ECR_HOST.match(entry.registry)) and entry.username != "AWS")
    if exchange:
        raise SettingsError(
            f"registry-auth entry {number} ({entry.registry}) asks for an Amazon ECR login, which "
            "this action does not support",
            ECR_FIX,
        )


def passwords(raw: str) -> list[str]:
    """The passwords in a `registry-auth` value, read as parse_entry reads them but never refusing the value:
    the log must not show them even when the input is then rejected."""
    try:
        items = yaml.safe_load(raw)
    except yaml.YAMLError:
        return []
    found = (
        [str(item["password"]).strip() for item in items if isinstance(item, dict) and item.get("password") is not None]
        if isinstance(items, list)
        else []
    )
    return [password for password in found if password]


# ---------------------------------------------------------------- the docker login state


def docker_config_path(environ: Mapping[str, str]) -> str | None:
    folder = environ.get("DOCKER_CONFIG")
    return str(Path(folder) / "config.json") if folder else None


def docker_login(registry: str, environ: Mapping[str, str]) -> api.Credentials | None:
    """What `docker login` stored for the registry (config.json auths, credsStore or credHelpers)."""
    try:
        config = docker_auth.load_config(config_path=docker_config_path(environ), credstore_env=dict(environ))
        entry = config.resolve_authconfig(registry) or {}
    except (DockerException, OSError, ValueError) as err:
        raise PushError(
            f"cannot read the docker login state for {registry} ({type(err).__name__}: {err})",
            "run docker login again (or docker/login-action), or give registry-auth",
        ) from None
    username = entry.get("username") or entry.get("Username") or ""
    password = entry.get("password") or entry.get("Password") or ""
    token = entry.get("IdentityToken") or entry.get("identitytoken") or ""
    return api.Credentials(username, password, token) if password or token else None


# ---------------------------------------------------------------- Azure Container Registry


def jwt_claims(token: str) -> dict[str, Any]:
    """The (unverified) claims of a JWT; {} when it is not one."""
    try:
        payload = token.split(".")[1]
        value = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def aad_token(registry: str, settings: Settings, mask: Mask) -> str:
    """An Azure AD access token for Azure Resource Manager, from the identity used for the model."""
    from azure.core.exceptions import ClientAuthenticationError

    from ..sources import azure_auth

    try:
        credential = azure_auth.azure_credential(settings, mask)
        return str(credential.get_token(azure_auth.cloud_of(settings).resource_manager_scope).token)
    except ClientAuthenticationError as err:
        first = first_line(str(err.message or err), default="no detail")
        raise PushError(
            f"no Azure identity to log in to {registry} ({first})",
            "give azure-credentials (or client-id and tenant-id for OIDC), log in with azure/login, "
            f"or add {registry} with a username and password to registry-auth",
        ) from None
    except PackageError as err:
        raise PushError(f"logging in to {registry} with the Azure identity failed: {err.cause}", err.fix) from None


def exchange(registry: str, access_token: str, tenant: str, settings: Settings) -> str:
    """POST /oauth2/exchange: an Azure AD access token in, an ACR refresh token out."""
    form = {
        "grant_type": "access_token",
        "service": registry,
        "access_token": access_token,
        **({"tenant": tenant} if tenant else {}),
    }
    request = urllib.request.Request(
        f"https://{registry}/oauth2/exchange",
        data=urllib.parse.urlencode(form).encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        answer = api.send(request, api.ssl_context(registry, settings.registry_ca))
    except api.RegistryError as err:
        raise PushError(
            f"the ACR token exchange at {registry} failed: {err}", f"check that {registry} is reachable from the runner"
        ) from None
    if answer.status != 200:
        raise PushError(
            f"{registry} refused the Azure identity's token ({answer.status} from /oauth2/exchange)",
            f"give {identity_name(settings)} the AcrPush role on {registry.split('.')[0]} "
            "(az role assignment create --role AcrPush --assignee <client id> --scope <registry id>)",
        )
    refresh = json.loads(answer.body or b"{}").get("refresh_token")
    if not refresh:
        raise PushError(
            f"{registry} answered the token exchange without a refresh token",
            "retry; if it persists, log in with registry-auth instead",
        )
    return str(refresh)


def identity_name(settings: Settings) -> str:
    from ..sources import azure_auth

    try:
        return azure_auth.identity(settings)
    except PackageError:
        return "the Azure identity"


def acr_credentials(registry: str, settings: Settings, mask: Mask) -> api.Credentials:
    """The Azure identity's ACR refresh token, as an identity token (`mask` sees the Azure AD token)."""
    token = aad_token(registry, settings, mask)
    tenant = str(jwt_claims(token).get("tid") or settings.tenant_id or "")
    return api.Credentials(ACR_USERNAME, "", exchange(registry, token, tenant, settings))


# ---------------------------------------------------------------- per registry, once per run


@dataclass
class RegistryAuth:
    """Looks credentials up once per registry and remembers where they came from (for the log)."""

    settings: Settings
    acr: Callable[[str], bool] = is_acr  # which registries are ACR (tests point this at a stand-in)
    mask: Mask = ignore  # sees every password and token found here (the log hides them)
    entries: dict[str, Entry] = field(init=False)
    found: dict[str, tuple[api.Credentials | None, str] | PushError] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.entries = parse_registry_auth(self.settings.registry_auth.reveal())

    def credentials(self, registry: str) -> api.Credentials | None:
        """The credentials for `registry` (None: anonymous); PushError when they cannot be had."""
        if registry not in self.found:
            try:
                credentials, source = self.look_up(registry)
            except PushError as err:
                self.found[registry] = err
            else:
                self.mask_secrets(credentials)
                self.found[registry] = credentials, source
        found = self.found[registry]
        if isinstance(found, PushError):
            raise found
        return found[0]

    def mask_secrets(self, credentials: api.Credentials | None) -> None:
        for secret in (credentials.password, credentials.identity_token) if credentials else ():
            if secret:
                self.mask(secret)

    def source(self, registry: str) -> str:
        """registry-auth, docker login, Azure identity or anonymous."""
        found = self.found.get(registry)
        return found[1] if isinstance(found, tuple) else "none"

    def auth_config(self, registry: str) -> dict[str, str] | None:
        credentials = self.credentials(registry)
        return credentials.auth_config() if credentials else None

    def look_up(self, registry: str) -> tuple[api.Credentials | None, str]:
        entry = self.entries.get(registry)
        if entry and entry.password:
            return api.Credentials(entry.username, entry.password), "registry-auth"
        if entry and self.acr(registry):
            return acr_credentials(registry, self.settings, self.mask), "Azure identity"
        login = docker_login(registry, self.settings.environ)
        if login:
            return login, "docker login"
        if self.acr(registry):
            return acr_credentials(registry, self.settings, self.mask), "Azure identity"
        return None, "anonymous"
