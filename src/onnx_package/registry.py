"""Ask a registry itself what it holds: the distribution v2 API, with Basic or Bearer token auth.

Used to confirm every pushed digest (`HEAD /v2/<name>/manifests/<tag>`).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .refs import DOCKER_HUB, Repository

MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))
CERTS_D = Path("/etc/docker/certs.d")


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password='**********')"


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach a registry's API."""

    base_url: str  # https://host[:port] or http:// for an insecure registry
    ssl_context: ssl.SSLContext | None = None


def api_host(registry: str) -> str:
    return "registry-1.docker.io" if registry == DOCKER_HUB else registry


def is_insecure(registry: str, insecure_cidrs: list[str], insecure_names: set[str]) -> bool:
    """Docker's rule: registries in the engine's insecure list (127.0.0.0/8 by default) may use plain HTTP."""
    if registry in insecure_names:
        return True
    host = registry.rsplit(":", 1)[0].strip("[]")
    host = "127.0.0.1" if host == "localhost" else host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(cidr) for cidr in insecure_cidrs)


def ssl_context(registry: str, ca_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    for candidate in (Path(ca_file) if ca_file else None, CERTS_D / registry / "ca.crt"):
        if candidate and candidate.is_file():
            context.load_verify_locations(cafile=str(candidate))
    return context


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


def basic(credentials: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()


def bearer_token(challenge: dict[str, str], credentials: Credentials | None, context: ssl.SSLContext | None) -> str:
    query = {k: v for k, v in challenge.items() if k in ("service", "scope")}
    request = urllib.request.Request(f"{challenge['realm']}?{urllib.parse.urlencode(query)}")
    if credentials and credentials.username:
        request.add_header("Authorization", basic(credentials))
    with urllib.request.urlopen(request, timeout=30, context=context) as response:
        body = json.loads(response.read())
    return str(body.get("token") or body.get("access_token"))


def head_manifest(endpoint: Endpoint, repo: Repository, tag: str, credentials: Credentials | None) -> str:
    """The Docker-Content-Digest the registry serves for repo:tag ('' when it has none)."""
    url = f"{endpoint.base_url}/v2/{repo.path}/manifests/{tag}"
    authorization = ""
    for _ in range(2):
        request = urllib.request.Request(url, method="HEAD", headers={"Accept": MANIFEST_TYPES})
        if authorization:
            request.add_header("Authorization", authorization)
        try:
            with urllib.request.urlopen(request, timeout=30, context=endpoint.ssl_context) as response:
                return str(response.headers.get("Docker-Content-Digest", ""))
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return ""
            if err.code != 401 or authorization:
                raise
            scheme, challenge = parse_challenge(err.headers.get("WWW-Authenticate", ""))
            if scheme == "bearer":
                authorization = "Bearer " + bearer_token(challenge, credentials, endpoint.ssl_context)
            elif credentials and credentials.username:
                authorization = basic(credentials)
            else:
                raise
    return ""
