"""A local stand-in for Azure Container Registry's login: /oauth2/exchange and /oauth2/token over HTTPS,
in front of a real `docker-registry` configured for token auth (the distribution token spec).

    /oauth2/exchange  POST grant_type=access_token, service, tenant, access_token (an Azure AD token)
                      -> {"refresh_token": ...}                       (ACR's documented API)
    /oauth2/token     POST grant_type=refresh_token (docker's identity token flow), or
                      GET with Basic 00000000-0000-0000-0000-000000000000:<refresh token>
                      -> a JWT signed with a key the registry trusts (rootcertbundle, x5c header)
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from fault_proxy import FaultProxy, ProxyHandler

ACR_USERNAME = "00000000-0000-0000-0000-000000000000"
ISSUER = "acr-standin"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenSigner:
    """An ES256 key with a certificate from its own CA: the registry trusts the CA (rootcertbundle)."""

    folder: Path

    def __post_init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = datetime.datetime.now(datetime.UTC)
        ca_key, self.key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

        def cert(subject: str, key: ec.EllipticCurvePrivateKey, ca: bool) -> x509.Certificate:
            return (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "token CA")]))
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .sign(ca_key, hashes.SHA256())
            )

        ca_cert, signer_cert = cert("token CA", ca_key, True), cert("token signer", self.key, False)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.bundle = self.folder / "token-ca.pem"
        self.bundle.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        self.x5c = base64.b64encode(signer_cert.public_bytes(serialization.Encoding.DER)).decode()

    def sign(self, claims: dict[str, object]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        header = {"typ": "JWT", "alg": "ES256", "x5c": [self.x5c]}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def access_from_scope(scope: str, granted: tuple[str, ...] = ("pull", "push")) -> list[dict[str, object]]:
    """`repository:demo/wine:pull,push` -> the JWT `access` claim, with only the `granted` actions of those
    asked: a token service issues a token with fewer rights rather than refuse (the distribution spec)."""
    access = []
    for item in scope.split():
        kind, _, rest = item.partition(":")
        name, _, actions = rest.rpartition(":")
        access.append({"type": kind, "name": name, "actions": [a for a in actions.split(",") if a in granted]})
    return access


@dataclass
class AcrStandIn:
    """The front end: HTTPS, ACR's /oauth2/ endpoints, everything else forwarded to the registry."""

    aad_token: str  # the only Azure AD token /oauth2/exchange accepts
    signer: TokenSigner | None = None
    tls: tuple[Path, Path] | None = None
    refresh_tokens: set[str] = field(default_factory=set)
    exchanges: list[dict[str, str]] = field(default_factory=list)
    token_grants: list[str] = field(default_factory=list)  # grant_type (or "basic") of each /oauth2/token call
    granted: tuple[str, ...] = ("pull", "push")  # the actions a token may carry, whatever was asked (AcrPull: pull)

    def __post_init__(self) -> None:
        self.proxy = FaultProxy(
            "http://127.0.0.1:9", tls=self.tls, routes={"/oauth2/exchange": self.exchange, "/oauth2/token": self.token}
        )

    @property
    def host(self) -> str:
        return self.proxy.host

    def exchange(self, handler: ProxyHandler) -> None:
        form = dict(urllib.parse.parse_qsl(handler.read_body().decode()))
        self.exchanges.append({key: value for key, value in form.items() if key != "access_token"})
        if form.get("grant_type") != "access_token" or form.get("access_token") != self.aad_token:
            handler.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"invalid AAD token"}]}')
            return
        refresh = secrets.token_urlsafe(24)
        self.refresh_tokens.add(refresh)
        handler.reply(200, json.dumps({"refresh_token": refresh}).encode(), {"Content-Type": "application/json"})

    def token(self, handler: ProxyHandler) -> None:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(handler.path).query))
        form = dict(urllib.parse.parse_qsl(handler.read_body().decode()))
        params = {**query, **form}
        refresh = form.get("refresh_token", "")
        grant = form.get("grant_type", "")
        basic = handler.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            username, _, refresh = base64.b64decode(basic[6:]).decode().partition(":")
            grant = "basic" if username == ACR_USERNAME else "bad-user"
        self.token_grants.append(grant)
        if grant not in ("refresh_token", "basic") or refresh not in self.refresh_tokens or not self.signer:
            handler.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"invalid refresh token"}]}')
            return
        now = int(time.time())
        token = self.signer.sign(
            {
                "iss": ISSUER,
                "sub": ACR_USERNAME,
                "aud": params.get("service", ""),
                "exp": now + 600,
                "nbf": now - 60,
                "iat": now,
                "jti": secrets.token_hex(8),
                "access": access_from_scope(params.get("scope", ""), self.granted),
            }
        )
        handler.reply(
            200,
            json.dumps({"access_token": token, "token": token, "expires_in": 600}).encode(),
            {"Content-Type": "application/json"},
        )

    def start(self) -> AcrStandIn:
        self.proxy.start()
        return self

    def stop(self) -> None:
        self.proxy.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_token_registry(root: Path, front: AcrStandIn, signer: TokenSigner) -> subprocess.Popen[bytes]:
    """docker-registry on a free port, trusting the signer's tokens; the front forwards to it."""
    port = free_port()
    config = {
        "version": "0.1",
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(8)},
        "auth": {
            "token": {
                "realm": f"{front.proxy.url}/oauth2/token",
                "service": front.host,
                "issuer": ISSUER,
                "rootcertbundle": str(signer.bundle),
            }
        },
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yml").write_text(json.dumps(config))
    with (root / "registry.log").open("wb") as log:
        process = subprocess.Popen(
            ["/usr/bin/docker-registry", "serve", str(root / "config.yml")],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    front.proxy.upstream = urllib.parse.urlsplit(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2)
        except urllib.error.HTTPError:
            return process  # 401: up, and asking for a token
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the token-auth registry did not start: {(root / 'registry.log').read_text()[-2000:]}")
