"""In-process stand-ins for the unit tests: a tiny registry API and a token service, behind a FaultProxy.

stub = StubRegistry(auth="bearer", username="u", password="p")
with stub.serve() as proxy:            # FaultProxy: proxy.inject("500") works as usual
    Session([Endpoint(proxy.url)], Credentials("u", "p")).manifest(repo, "v1")
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.parse
from dataclasses import dataclass, field

from fault_proxy import FaultProxy, ProxyHandler

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def manifest_body(layer_sizes: list[int], config_size: int = 1000) -> bytes:
    layers = [
        {
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "size": size,
            "digest": f"sha256:{index:064x}",
        }
        for index, size in enumerate(layer_sizes)
    ]
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "layers": layers,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": config_size,
                "digest": "sha256:" + "c" * 64,
            },
        }
    ).encode()


@dataclass
class StubRegistry:
    auth: str = ""  # "" | "basic" | "bearer"
    username: str = "tester"
    password: str = "s3cret-pw"
    refresh_token: str = "refresh-123"
    manifests: dict[str, bytes] = field(default_factory=dict)  # "path:tag" -> body
    lie: bool = False  # serve a Docker-Content-Digest that does not match the body
    token_requests: list[dict[str, str]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    proxy: FaultProxy | None = None

    def serve(self) -> FaultProxy:
        self.proxy = FaultProxy("http://127.0.0.1:9", routes={"/v2/": self.v2, "/token": self.token})
        return self.proxy

    def put(self, path: str, tag: str, body: bytes) -> str:
        self.manifests[f"{path}:{tag}"] = body
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def challenge(self) -> dict[str, str]:
        assert self.proxy
        if self.auth == "basic":
            return {"WWW-Authenticate": 'Basic realm="stub"'}
        return {"WWW-Authenticate": f'Bearer realm="{self.proxy.url}/token",service="stub"'}

    def authorized(self, header: str) -> bool:
        if self.auth == "basic":
            return header == "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if self.auth == "bearer":
            return header.removeprefix("Bearer ") in self.tokens
        return True

    def v2(self, handler: ProxyHandler) -> None:
        handler.drain()
        if not self.authorized(handler.headers.get("Authorization", "")):
            handler.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', self.challenge())
            return
        path = urllib.parse.urlsplit(handler.path).path
        if path == "/v2/":
            handler.reply(200, b"{}")
            return
        if path.endswith("/tags/list"):
            name = path.removeprefix("/v2/").removesuffix("/tags/list")
            tags = [key.rpartition(":")[2] for key in self.manifests if key.rpartition(":")[0] == name]
            handler.reply(200, json.dumps({"name": name, "tags": tags}).encode())
            return
        name, _, tag = path.removeprefix("/v2/").partition("/manifests/")
        body = self.manifests.get(f"{name}:{tag}")
        if body is None:
            handler.reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
            return
        digest = "sha256:" + ("0" * 64 if self.lie else hashlib.sha256(body).hexdigest())
        handler.reply(200, body, {"Docker-Content-Digest": digest, "Content-Type": MANIFEST_TYPE})

    def token(self, handler: ProxyHandler) -> None:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(handler.path).query))
        form = dict(urllib.parse.parse_qsl(handler.read_body().decode()))
        request = {**query, **form, "method": handler.command}
        self.token_requests.append(request)
        basic = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        good = (form.get("grant_type") == "refresh_token" and form.get("refresh_token") == self.refresh_token) or (
            handler.headers.get("Authorization") == basic
        )
        if not good:
            handler.reply(401, b'{"details":"bad credentials"}')
            return
        token = secrets.token_hex(8)
        self.tokens.add(token)
        key = "access_token" if handler.command == "POST" else "token"
        handler.reply(200, json.dumps({key: token}).encode(), {"Content-Type": "application/json"})
