"""What the stand-in knows: apps that can log in, workspaces, registries, models, injected faults."""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field

DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class App:
    """An AAD app registration: a client secret, a GitHub federated credential, or both."""

    tenant: str
    client_id: str
    secret: str = ""
    federated: bool = False
    audience: str = "api://AzureADTokenExchange"  # the federated credential's audience
    object_id: str = field(default_factory=lambda: secrets.token_hex(16))


@dataclass
class Datastore:
    name: str
    container: str
    secrets_type: str  # AccountKey | StaleKey (a rotated key) | Sas | None (identity-based)


@dataclass
class Version:
    name: str
    version: str
    path: str  # the path inside the datastore / registry container
    created: float = field(default_factory=time.time)


@dataclass
class Workspace:
    subscription: str
    resource_group: str
    name: str
    datastores: dict[str, Datastore] = field(default_factory=dict)
    models: dict[str, dict[str, Version]] = field(default_factory=dict)  # name -> version -> Version
    model_datastore: dict[tuple[str, str], str] = field(default_factory=dict)  # (name, version) -> datastore


@dataclass
class Registry:
    name: str
    subscription: str
    resource_group: str
    container: str
    models: dict[str, dict[str, Version]] = field(default_factory=dict)


@dataclass
class Fault:
    pattern: re.Pattern[str]
    status: int
    remaining: int | None  # None: always


@dataclass
class AzureState:
    apps: dict[str, App] = field(default_factory=dict)
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)  # access token -> (client id, scope)
    denied: set[str] = field(default_factory=set)  # client ids without a role
    workspaces: dict[tuple[str, str, str], Workspace] = field(default_factory=dict)
    registries: dict[str, Registry] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # "METHOD /path?query", in order
    github_request_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    github_tokens: list[str] = field(default_factory=list)  # OIDC tokens handed out
    # Claims of the tokens GitHub issues here: github.com's token service; GHES's is https://HOST/_services/token.
    github_issuer: str = "https://token.actions.githubusercontent.com"
    github_subject: str = "repo:octo/models:ref:refs/heads/main"
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reset(self) -> None:
        """Back to empty between tests (the servers stay up for the session)."""
        with self.lock:
            self.apps.clear()
            self.tokens.clear()
            self.denied.clear()
            self.workspaces.clear()
            self.registries.clear()
            self.faults.clear()
            self.requests.clear()
            self.github_tokens.clear()
            self.github_issuer = AzureState.github_issuer

    def fail(self, path_pattern: str, status: int, times: int | None = None) -> None:
        """Answer `status` to requests whose path matches `path_pattern` (`times` times, or always)."""
        self.faults.append(Fault(re.compile(path_pattern), status, times))

    def fault_for(self, path: str) -> int | None:
        with self.lock:
            for fault in self.faults:
                if fault.pattern.search(path) and fault.remaining != 0:
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault.status
        return None

    def issue_token(self, client_id: str, scope: str) -> str:
        """A JWT-shaped access token (Azurite's --oauth basic reads aud, iss and the lifetime; no signature)."""
        app, now = self.apps[client_id], int(time.time())
        claims = {
            "aud": scope.removesuffix("/.default").removesuffix("/"),
            "iss": f"https://sts.windows.net/{app.tenant}/",
            "iat": now,
            "nbf": now - 60,
            "exp": now + 3600,
            "appid": client_id,
            "oid": app.object_id,
            "tid": app.tenant,
            "jti": secrets.token_hex(8),
        }
        token = ".".join(_b64(part) for part in ({"alg": "RS256", "typ": "JWT"}, claims)) + ".c3R1Yg"
        self.tokens[token] = (client_id, scope)
        return token

    def issue_github_token(self, audience: str) -> str:
        """A JWT shaped like GitHub's (its signature is not checked here): iss, sub, aud and a nonce."""
        claims = {
            "iss": self.github_issuer,
            "sub": self.github_subject,
            "aud": audience,
            "jti": secrets.token_urlsafe(12),
        }
        token = f"{_b64({'alg': 'RS256', 'typ': 'JWT'})}.{_b64(claims)}.{secrets.token_urlsafe(32)}"
        self.github_tokens.append(token)
        return token

    @staticmethod
    def github_claims(token: str) -> dict[str, object]:
        payload = token.split(".")[1]
        return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _b64(part: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
