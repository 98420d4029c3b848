"""Ask a registry itself what it holds: the distribution v2 API, with Basic or Bearer token auth.

Every request is retried on 5xx, 429 (honouring Retry-After) and dropped connections; never on
401/403/404. Used to confirm each pushed digest and to find the previous image for the build cache.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import json
import re
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from .. import retry
from ..errors import SettingsError
from .refs import DOCKER_HUB, Repository

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPES = ", ".join(
    (
        OCI_INDEX,
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# Docker's media types and their OCI equivalents: the same blobs, so a manifest can be rewritten without a push.
OCI_TYPES = {
    "application/vnd.docker.distribution.manifest.v2+json": OCI_MANIFEST,
    "application/vnd.docker.container.image.v1+json": "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": (
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    ),
}
CERTS_D = Path("/etc/docker/certs.d")
CLIENT_ID = "onnx-package"
TIMEOUT = 30
# Errors that mean "the connection dropped": worth another try. Refused connections and unknown
# hosts are not (nothing listens there), nor are certificate errors.
OnRetry = Callable[[retry.Retry, float, int], None]
DROPPED = (
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    http.client.RemoteDisconnected,
    http.client.IncompleteRead,
    TimeoutError,
    socket.timeout,
)


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""  # an OAuth2 refresh token (ACR's exchange, `docker login` with a token)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password='**********')"

    def auth_config(self) -> dict[str, str]:
        """For the docker SDK's push and pull (`X-Registry-Auth`)."""
        if self.identity_token:
            return {"username": self.username, "identitytoken": self.identity_token}
        return {"username": self.username, "password": self.password}


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach a registry's API."""

    base_url: str  # https://host[:port] or http:// for an insecure registry
    ssl_context: ssl.SSLContext | None = None


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Message
    body: bytes


class RegistryError(Exception):
    """The registry's API failed; `status` is its HTTP status (0 when nothing answered)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Manifest:
    digest: str  # the Docker-Content-Digest the registry serves
    body: bytes

    @property
    def content(self) -> dict[str, Any]:
        value = json.loads(self.body)
        return value if isinstance(value, dict) else {}

    def layer_sizes(self) -> list[int]:
        return [int(layer.get("size", 0)) for layer in self.content.get("layers", [])]

    def config_size(self) -> int:
        return int(self.content.get("config", {}).get("size", 0))


def oci_descriptor(descriptor: dict[str, Any]) -> dict[str, Any]:
    """A descriptor with Docker's media type replaced by its OCI equivalent (the same blob)."""
    return {**descriptor, "mediaType": OCI_TYPES.get(descriptor["mediaType"], descriptor["mediaType"])}


def annotated(manifest: Manifest, annotations: Mapping[str, str]) -> bytes:
    """The image manifest in OCI form (Docker's has no annotations) with these annotations; same config and layers."""
    content = manifest.content
    if OCI_TYPES.get(content.get("mediaType", ""), content.get("mediaType")) != OCI_MANIFEST:
        raise RegistryError(f"cannot annotate a {content.get('mediaType')!r} manifest: only an image manifest")
    rewritten = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": oci_descriptor(content["config"]),
        "layers": [oci_descriptor(layer) for layer in content["layers"]],
        "annotations": dict(annotations),
    }
    return json.dumps(rewritten, indent=3).encode()


def api_host(registry: str) -> str:
    return "registry-1.docker.io" if registry == DOCKER_HUB else registry


def is_insecure(registry: str, insecure_cidrs: list[str], insecure_names: set[str]) -> bool:
    """Docker's rule: registries in the engine's insecure list (127.0.0.0/8 by default) may use plain HTTP."""
    if registry in insecure_names:
        return True
    host = registry.rsplit(":", 1)[0].strip("[]") if not registry.endswith("]") else registry.strip("[]")
    host = "127.0.0.1" if host == "localhost" else host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(cidr) for cidr in insecure_cidrs)


def endpoints(registry: str, engine_config: Mapping[str, Any], ca: str) -> list[Endpoint]:
    """HTTPS first; plain HTTP too where the engine treats the registry as insecure.

    `engine_config` is the engine's `RegistryConfig` (from `docker info`).
    """
    names = {name for name, index in (engine_config.get("IndexConfigs") or {}).items() if not index.get("Secure")}
    host = api_host(registry)
    found = [Endpoint(f"https://{host}", ssl_context(registry, ca))]
    if is_insecure(registry, engine_config.get("InsecureRegistryCIDRs") or [], names):
        found.append(Endpoint(f"http://{host}"))
    return found


def is_pem(text: str) -> bool:
    return "-----BEGIN CERTIFICATE-----" in text


def check_ca(ca: str) -> None:
    """`registry-ca` is a PEM file or PEM text; say so before anything is built."""
    if not ca or is_pem(ca):
        return
    if not Path(ca).is_file():
        raise SettingsError(
            f"registry-ca {ca!r} is neither a file nor PEM text",
            "give registry-ca as the path of the CA's PEM file, or its PEM text",
        )
    if not is_pem(Path(ca).read_text(errors="replace")):
        raise SettingsError(
            f"registry-ca {ca} holds no PEM certificate",
            "give the CA certificate in PEM form (-----BEGIN CERTIFICATE-----)",
        )


def ssl_context(registry: str, ca: str) -> ssl.SSLContext:
    """The system's CAs, plus `registry-ca` and the docker layout /etc/docker/certs.d/<host>/ca.crt."""
    context = ssl.create_default_context()
    if ca and is_pem(ca):
        context.load_verify_locations(cadata=ca)
    elif ca:
        context.load_verify_locations(cafile=ca)
    folder = CERTS_D / registry
    for candidate in sorted(folder.glob("*.crt")):  # CA certificates, as dockerd reads them
        context.load_verify_locations(cafile=str(candidate))
    for cert in sorted(folder.glob("*.cert")):  # client certificates: name.cert + name.key
        if cert.with_suffix(".key").is_file():
            context.load_cert_chain(str(cert), str(cert.with_suffix(".key")))
    return context


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


# ---------------------------------------------------------------- one HTTP exchange, retried


def retryable(status: int) -> bool:
    return status == 429 or status >= 500


def dropped(err: BaseException) -> bool:
    reason = err.reason if isinstance(err, urllib.error.URLError) else err
    return isinstance(reason, DROPPED) and not isinstance(reason, ssl.SSLError)


def describe(err: BaseException) -> str:
    reason = err.reason if isinstance(err, urllib.error.URLError) else err
    return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__


def attempt(request: urllib.request.Request, context: ssl.SSLContext | None) -> Answer:
    """One try: the answer for any status but 5xx/429; Retry for those and for dropped connections."""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as err:
        answer = Answer(err.code, err.headers, err.read())
        if retryable(err.code):
            raise retry.Retry(
                f"{request.full_url.split('?')[0]} answered {err.code} {err.reason}",
                retry.parse_retry_after(err.headers.get("Retry-After")),
            ) from None
        return answer
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        if dropped(err):
            raise retry.Retry(f"{request.full_url.split('?')[0]}: the connection dropped ({describe(err)})") from None
        raise RegistryError(f"cannot reach {request.full_url.split('?')[0]} ({describe(err)})") from err


def send(
    request: urllib.request.Request,
    context: ssl.SSLContext | None,
    policy: retry.Policy = retry.API,
    on_retry: OnRetry | None = None,
) -> Answer:
    """The registry's answer; RegistryError when it cannot be reached or keeps failing."""
    try:
        return retry.call(lambda: attempt(request, context), policy, on_retry)
    except retry.GaveUp as err:
        raise RegistryError(str(err), 503) from err


# ---------------------------------------------------------------- a session with one registry


@dataclass
class Session:
    """Talks to one registry: finds the endpoint that answers, authenticates per the registry's challenge."""

    candidates: list[Endpoint]
    credentials: Credentials | None = None
    policy: retry.Policy = retry.API
    on_retry: OnRetry | None = None
    endpoint: Endpoint | None = None
    challenge: tuple[str, dict[str, str]] = ("", {})
    tokens: dict[str, str] = field(default_factory=dict)  # scope -> Authorization header value

    def open(self) -> Endpoint:
        """Ping /v2/ on each candidate; the first that answers like a registry (200 or 401) is used."""
        if self.endpoint:
            return self.endpoint
        problems = []
        for candidate in self.candidates:
            try:
                answer = self.send(urllib.request.Request(f"{candidate.base_url}/v2/"), candidate)
            except RegistryError as err:
                problems.append(str(err))
                continue
            if answer.status in (200, 401):
                self.endpoint = candidate
                self.challenge = parse_challenge(answer.headers.get("WWW-Authenticate", ""))
                return candidate
            problems.append(f"{candidate.base_url}/v2/ answered {answer.status}, not like a registry")
        raise RegistryError("; ".join(problems))

    def send(self, request: urllib.request.Request, endpoint: Endpoint | None = None) -> Answer:
        return send(request, (endpoint or self.endpoint or self.candidates[0]).ssl_context, self.policy, self.on_retry)

    def request(
        self,
        method: str,
        path: str,
        scope: str,
        headers: Mapping[str, str] | None = None,
        data: bytes | Body | None = None,
    ) -> Answer:
        """`path` under /v2/, authenticated for `scope` (e.g. repository:org/model:pull)."""
        endpoint = self.open()
        for fresh in (False, True):
            request = urllib.request.Request(
                f"{endpoint.base_url}/v2/{path}", method=method, headers=dict(headers or {}), data=data
            )
            authorization = self.authorization(scope, fresh)
            if authorization:
                request.add_header("Authorization", authorization)
            answer = self.send(request)
            if answer.status != 401 or fresh:
                return answer
            self.challenge = parse_challenge(answer.headers.get("WWW-Authenticate", ""))
        return answer

    def authorization(self, scope: str, fresh: bool) -> str:
        scheme, params = self.challenge
        if scheme == "basic" and self.credentials and self.credentials.password:
            return basic(self.credentials.username, self.credentials.password)
        if scheme != "bearer":
            return ""
        if fresh or scope not in self.tokens:
            self.tokens[scope] = "Bearer " + self.token(params, scope)
        return self.tokens[scope]

    def token(self, challenge: dict[str, str], scope: str) -> str:
        """A bearer token from the challenge's realm: refresh-token grant, or Basic, or anonymous."""
        realm = challenge.get("realm", "")
        if not realm:
            raise RegistryError("the registry asks for a bearer token but names no realm", 401)
        query = {"service": challenge.get("service", ""), "scope": scope}
        credentials = self.credentials
        if credentials and credentials.identity_token:
            form = {
                **query,
                "grant_type": "refresh_token",
                "refresh_token": credentials.identity_token,
                "client_id": CLIENT_ID,
            }
            request = urllib.request.Request(
                realm,
                data=urllib.parse.urlencode(form).encode(),
                method="POST",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        else:
            request = urllib.request.Request(f"{realm}?{urllib.parse.urlencode(query)}")
            if credentials and credentials.password:
                request.add_header("Authorization", basic(credentials.username, credentials.password))
        answer = self.send(request)
        if answer.status != 200:
            who = f"the credentials of {credentials.username!r}" if credentials else "an anonymous request"
            raise RegistryError(f"the token service {realm} refused {who} for {scope} ({answer.status})", answer.status)
        body = json.loads(answer.body or b"{}")
        return str(body.get("token") or body.get("access_token") or "")

    def tags(self, repo: Repository) -> list[str]:
        """The repository's tags (the first page: up to 1000); [] when the registry will not list them."""
        answer = self.request("GET", f"{repo.path}/tags/list?n=1000", f"repository:{repo.path}:pull")
        if answer.status != 200:
            return []
        tags = json.loads(answer.body or b"{}").get("tags") or []
        return [str(tag) for tag in tags]

    def manifest(self, repo: Repository, reference: str) -> Manifest | None:
        """The manifest the registry serves for repo:reference; None when it has none."""
        answer = self.request(
            "GET", f"{repo.path}/manifests/{reference}", f"repository:{repo.path}:pull", {"Accept": MANIFEST_TYPES}
        )
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise RegistryError(f"GET manifest {repo.ref(reference)} answered {answer.status}", answer.status)
        served = digest_of(answer.body)
        digest = answer.headers.get("Docker-Content-Digest") or served
        if digest != served:
            raise RegistryError(
                f"{repo.registry} says {repo.ref(reference)} is {digest} but serves content hashing to {served}"
            )
        return Manifest(digest, answer.body)

    def referrers(self, repo: Repository, digest: str) -> list[str]:
        """The digests of the artifacts whose subject is `digest` (the referrers API); [] where it has none."""
        answer = self.request(
            "GET", f"{repo.path}/referrers/{digest}", f"repository:{repo.path}:pull", {"Accept": OCI_INDEX}
        )
        if answer.status != 200:
            return []  # no referrers API (distribution 2.x answers 404): the fallback tag says it
        manifests = json.loads(answer.body or b"{}").get("manifests") or []
        return [str(entry.get("digest")) for entry in manifests if isinstance(entry, dict)]

    def put_manifest(self, repo: Repository, reference: str, body: bytes, media_type: str) -> Answer:
        """Store a manifest under repo:reference (its blobs must be there already)."""
        answer = self.request(
            "PUT",
            f"{repo.path}/manifests/{reference}",
            f"repository:{repo.path}:push,pull",
            {"Content-Type": media_type},
            body,
        )
        if answer.status not in (200, 201):
            raise RegistryError(
                f"PUT manifest {repo.ref(reference)} answered {answer.status}: {detail(answer)}", answer.status
            )
        return answer

    def upload_blob(self, repo: Repository, data: bytes) -> str:
        """Store a small blob in one request (the monolithic upload); its digest. Skipped when it is there."""
        digest = digest_of(data)
        self.upload_stream(repo, digest, len(data), lambda: iter([data]))
        return digest

    def upload_stream(self, repo: Repository, digest: str, size: int, chunks: Callable[[], Iterator[bytes]]) -> bool:
        """Store a blob in one PUT whose body is streamed (made again by `chunks` on a retry); False when the
        registry has it already."""
        scope = f"repository:{repo.path}:push,pull"
        if self.request("HEAD", f"{repo.path}/blobs/{digest}", scope).status == 200:
            return False
        started = self.request("POST", f"{repo.path}/blobs/uploads/", scope)
        location = started.headers.get("Location", "")
        if started.status != 202 or not location:
            raise RegistryError(
                f"starting a blob upload to {repo.name} answered {started.status}: {detail(started)}", started.status
            )
        path = urllib.parse.urlsplit(location)
        query = "&".join(filter(None, [path.query, urllib.parse.urlencode({"digest": digest})]))
        done = self.request(
            "PUT",
            f"{path.path.removeprefix('/v2/')}?{query}",
            scope,
            {"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            Body(chunks),
        )
        if done.status not in (201, 204):
            raise RegistryError(f"uploading a blob to {repo.name} answered {done.status}: {detail(done)}", done.status)
        return True

    def download_blob(self, repo: Repository, digest: str, dest: Path) -> None:
        """A blob streamed into `dest`, checked against its digest."""
        scope = f"repository:{repo.path}:pull"
        self.request("HEAD", f"{repo.path}/blobs/{digest}", scope)  # a token for the scope, when it takes one
        endpoint = self.open()
        request = urllib.request.Request(f"{endpoint.base_url}/v2/{repo.path}/blobs/{digest}")
        if authorization := self.authorization(scope, False):  # not passed on to a storage service's redirect
            request.add_unredirected_header("Authorization", authorization)
        sha256 = hashlib.sha256()
        try:
            with (
                urllib.request.urlopen(request, timeout=TIMEOUT, context=endpoint.ssl_context) as response,
                dest.open("wb") as out,
            ):
                while chunk := response.read(1 << 20):
                    sha256.update(chunk)
                    out.write(chunk)
        except (urllib.error.URLError, http.client.HTTPException) as err:
            raise RegistryError(
                f"downloading {repo.name}@{digest} failed ({describe(err)})", getattr(err, "code", 0)
            ) from err
        if f"sha256:{sha256.hexdigest()}" != digest:
            raise RegistryError(f"{repo.registry} served content for {repo.name}@{digest} that hashes otherwise")


class Body:
    """A request body made anew each time it is sent: a retry sends it again from its first byte."""

    def __init__(self, chunks: Callable[[], Iterator[bytes]]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def detail(answer: Answer) -> str:
    return answer.body[:200].decode(errors="replace").strip()
