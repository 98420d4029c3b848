"""The HTTPS stand-in for Azure: AAD tokens, the Azure ML control plane (workspaces and registries)
and GitHub's OIDC token endpoint, answering as ../../shared/AZUREML_CONTRACT.md records.

One server answers for every host; the CONNECT proxy sends it everything that is not blob storage.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from .certs import Certs
from .state import DEV_ACCOUNT, DEV_KEY, AzureState, Registry, Version, Workspace

PROVIDER = "/providers/Microsoft.MachineLearningServices"
WS = rf"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+){PROVIDER}/workspaces/(?P<ws>[^/]+)"
REG = rf"/mferp/managementfrontend/subscriptions/[^/]+/resourceGroups/[^/]+{PROVIDER}/registries/(?P<reg>[^/]+)"


@dataclass
class Request:
    method: str
    host: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    match: re.Match[str]

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    @property
    def storage_suffix(self) -> str:
        """The blob suffix of the cloud the client thinks it talks to."""
        return "stub.test" if self.host.endswith("stub.test") else "core.windows.net"


PUBLIC_LOGIN_HOSTS = ("login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net")
Reply = tuple[int, Any]  # status, JSON body
Route = tuple[str, re.Pattern[str], Callable[["StandIn", Request], Reply]]


def arm_error(status: int, code: str, message: str) -> Reply:
    return status, {"error": {"code": code, "message": message}}


def iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat().replace("+00:00", "Z")


class StandIn:
    """Route handlers over an AzureState."""

    def __init__(self, state: AzureState) -> None:
        self.state = state

    # --- AAD ---------------------------------------------------------------------------------
    def openid_configuration(self, req: Request) -> Reply:
        tenant, base = req.match["tenant"], f"https://{req.host}"
        return 200, {
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            "issuer": f"{base}/{tenant}/v2.0",
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": "EU",
        }

    def instance_discovery(self, req: Request) -> Reply:
        """Public AAD vouches for its own login hosts, not for a custom cloud's."""
        endpoint = urlsplit(req.query.get("authorization_endpoint", ""))
        if endpoint.hostname not in PUBLIC_LOGIN_HOSTS:
            return 400, {
                "error": "invalid_instance",
                "error_codes": [50049],
                "error_description": "AADSTS50049: Unknown or invalid instance.",
            }
        tenant = endpoint.path.strip("/").split("/")[0] or "common"
        return 200, {
            "tenant_discovery_endpoint": f"https://{endpoint.hostname}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [
                {
                    "preferred_network": "login.microsoftonline.com",
                    "preferred_cache": "login.windows.net",
                    "aliases": list(PUBLIC_LOGIN_HOSTS),
                }
            ],
        }

    def token(self, req: Request) -> Reply:
        form, tenant = req.form(), req.match["tenant"]
        app = self.state.apps.get(form.get("client_id", ""))
        if app is None or app.tenant != tenant:
            return self.aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found in the directory '{tenant}'.",
            )
        if "client_assertion" in form:
            assertion = form["client_assertion"]
            if (
                not app.federated
                or assertion not in self.state.github_tokens
                or self.state.github_claims(assertion)["aud"] != app.audience
            ):
                return self.aad_error(
                    400, "invalid_client", 70021, "No matching federated identity record found for presented assertion."
                )
        elif not app.secret or form.get("client_secret") != app.secret:
            return self.aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the "
                f"client secret value, not the client secret ID, for a secret added to app "
                f"'{app.client_id}'.",
            )
        token = self.state.issue_token(app.client_id, form.get("scope", ""))
        return 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}

    @staticmethod
    def aad_error(status: int, error: str, code: int, description: str) -> Reply:
        text = f"AADSTS{code}: {description} Trace ID: 0000 Correlation ID: 0000 Timestamp: 2026-01-01 00:00:00Z"
        return status, {"error": error, "error_description": text, "error_codes": [code]}

    # --- GitHub OIDC -------------------------------------------------------------------------
    def github_id_token(self, req: Request) -> Reply:
        if req.headers.get("authorization", "").lower() != f"bearer {self.state.github_request_token}".lower():
            return 401, {"message": "Bad credentials"}
        if not req.query.get("audience"):
            return 400, {"message": "audience is required"}
        return 200, {"count": 1, "value": self.state.issue_github_token(req.query["audience"])}

    # --- Workspace control plane -------------------------------------------------------------
    def workspace(self, req: Request) -> Workspace | Reply:
        sub, rg, name = req.match["sub"], req.match["rg"], req.match["ws"]
        found = self.state.workspaces.get((sub, rg, name))
        if found:
            return found
        known = self.state.workspaces.values()
        if not any(w.subscription == sub for w in known):
            return arm_error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        if not any(w.subscription == sub and w.resource_group == rg for w in known):
            return arm_error(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        return arm_error(
            404,
            "ParentResourceNotFound",
            f"Failed to perform 'read' on resource(s) of type 'workspaces/models', because the parent "
            f"resource '/subscriptions/{sub}/resourceGroups/{rg}{PROVIDER}/workspaces/{name}' "
            "could not be found.",
        )

    @staticmethod
    def ws_prefix(ws: Workspace) -> str:
        return f"/subscriptions/{ws.subscription}/resourceGroups/{ws.resource_group}{PROVIDER}/workspaces/{ws.name}"

    def ws_version_body(self, ws: Workspace, v: Version) -> dict[str, Any]:
        datastore = ws.model_datastore[(v.name, v.version)]
        uri = (
            f"azureml://subscriptions/{ws.subscription}/resourcegroups/{ws.resource_group}/workspaces/{ws.name}"
            f"/datastores/{datastore}/paths/{v.path}"
        )
        return version_body(f"{self.ws_prefix(ws)}/models/{v.name}/versions/{v.version}", v, uri)

    def ws_model_version(self, req: Request) -> Reply:
        ws = self.workspace(req)
        if not isinstance(ws, Workspace):
            return ws
        v = ws.models.get(req.match["name"], {}).get(req.match["version"])
        if v is None:
            return not_found_asset(
                f"azureml://{self.ws_prefix(ws)[1:]}/models/{req.match['name']}/versions/{req.match['version']}"
            )
        return 200, self.ws_version_body(ws, v)

    def ws_model_versions(self, req: Request) -> Reply:
        ws = self.workspace(req)
        if not isinstance(ws, Workspace):
            return ws
        listed = ordered(ws.models.get(req.match["name"], {}), req.query)
        return 200, {"value": [self.ws_version_body(ws, v) for v in listed]}

    def ws_models(self, req: Request) -> Reply:
        ws = self.workspace(req)
        if not isinstance(ws, Workspace):
            return ws
        return 200, {
            "value": [
                container_body(f"{self.ws_prefix(ws)}/models/{name}", name, versions)
                for name, versions in ws.models.items()
            ]
        }

    def ws_datastore(self, req: Request) -> Reply:
        ws = self.workspace(req)
        if not isinstance(ws, Workspace):
            return ws
        ds = ws.datastores.get(req.match["ds"])
        if ds is None:
            return arm_error(404, "UserError", f"Datastore {req.match['ds']} not found")
        credentials = {"AccountKey": "AccountKey", "StaleKey": "AccountKey", "Sas": "Sas"}.get(ds.secrets_type, "None")
        return 200, {
            "id": f"{self.ws_prefix(ws)}/datastores/{ds.name}",
            "name": ds.name,
            "type": "Microsoft.MachineLearningServices/workspaces/datastores",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": DEV_ACCOUNT,
                "containerName": ds.container,
                "endpoint": req.storage_suffix,
                "protocol": "https",
                "isDefault": False,
                "serviceDataAccessAuthIdentity": "None",
                "tags": {},
                "properties": {},
                "description": None,
                "credentials": {"credentialsType": credentials},
            },
        }

    def ws_list_secrets(self, req: Request) -> Reply:
        ws = self.workspace(req)
        if not isinstance(ws, Workspace):
            return ws
        ds = ws.datastores.get(req.match["ds"])
        if ds is None:
            return arm_error(404, "UserError", f"Datastore {req.match['ds']} not found")
        if ds.secrets_type == "AccountKey":
            return 200, {"secretsType": "AccountKey", "key": DEV_KEY}
        if ds.secrets_type == "StaleKey":  # a key rotated since the datastore was made
            return 200, {"secretsType": "AccountKey", "key": base64.b64encode(b"stale" * 12).decode()}
        if ds.secrets_type == "Sas":
            return 200, {"secretsType": "Sas", "sasToken": container_sas(ds.container)}
        return arm_error(400, "UserError", "No secrets for credential-less datastores.")

    # --- Registries ---------------------------------------------------------------------------
    def registry(self, req: Request) -> Registry | Reply:
        found = self.state.registries.get(req.match["reg"])
        return found or arm_error(404, "NotFound", f"Registry {req.match['reg']} not found.")

    def discovery(self, req: Request) -> Reply:
        reg = self.registry(req)
        if not isinstance(reg, Registry):
            return reg
        return 200, {
            "registryName": reg.name,
            "subscriptionId": reg.subscription,
            "resourceGroup": reg.resource_group,
            "primaryRegion": "eastus",
            "primaryRegionResourceProviderUri": f"https://{req.host}/",
            "registryFqdns": {"eastus": {"primary": f"https://{req.host}/"}},
            "regions": [{"region": "eastus", "resourceProviderUri": f"https://{req.host}/"}],
        }

    def reg_version_body(self, req: Request, reg: Registry, v: Version) -> dict[str, Any]:
        uri = f"https://{DEV_ACCOUNT}.blob.{req.storage_suffix}/{reg.container}/{v.path}"
        return version_body(f"azureml://registries/{reg.name}/models/{v.name}/versions/{v.version}", v, uri)

    def reg_model_version(self, req: Request) -> Reply:
        reg = self.registry(req)
        if not isinstance(reg, Registry):
            return reg
        v = reg.models.get(req.match["name"], {}).get(req.match["version"])
        if v is None:
            return not_found_asset(
                f"azureml://registries/{reg.name}/models/{req.match['name']}/versions/{req.match['version']}"
            )
        return 200, self.reg_version_body(req, reg, v)

    def reg_model_versions(self, req: Request) -> Reply:
        reg = self.registry(req)
        if not isinstance(reg, Registry):
            return reg
        listed = ordered(reg.models.get(req.match["name"], {}), req.query)
        return 200, {"value": [self.reg_version_body(req, reg, v) for v in listed]}

    def reg_models(self, req: Request) -> Reply:
        reg = self.registry(req)
        if not isinstance(reg, Registry):
            return reg
        return 200, {
            "value": [
                container_body(f"azureml://registries/{reg.name}/models/{name}", name, versions)
                for name, versions in reg.models.items()
            ]
        }

    def reg_dataref(self, req: Request) -> Reply:
        reg = self.registry(req)
        if not isinstance(reg, Registry):
            return reg
        body = json.loads(req.body or b"{}")
        sas_uri = f"https://{DEV_ACCOUNT}.blob.{req.storage_suffix}/{reg.container}?{container_sas(reg.container)}"
        return 200, {
            "blobReferenceForConsumption": {
                "blobUri": body.get("blobUri"),
                "storageAccountArmId": None,
                "credential": {"credentialType": "SAS", "sasUri": sas_uri},
            }
        }

    ROUTES: tuple[tuple[str, str, str], ...] = (
        ("GET", r"^/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration$", "openid_configuration"),
        ("GET", r"^/common/discovery/instance$", "instance_discovery"),
        ("POST", r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$", "token"),
        ("GET", r"^/github/idtoken$", "github_id_token"),
        ("GET", rf"^{WS}/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$", "ws_model_version"),
        ("GET", rf"^{WS}/models/(?P<name>[^/]+)/versions$", "ws_model_versions"),
        ("GET", rf"^{WS}/models$", "ws_models"),
        ("GET", rf"^{WS}/datastores/(?P<ds>[^/]+)$", "ws_datastore"),
        ("POST", rf"^{WS}/datastores/(?P<ds>[^/]+)/listSecrets$", "ws_list_secrets"),
        ("GET", r"^/registrymanagement/v1\.0/registries/(?P<reg>[^/]+)/discovery$", "discovery"),
        ("GET", rf"^{REG}/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$", "reg_model_version"),
        ("GET", rf"^{REG}/models/(?P<name>[^/]+)/versions$", "reg_model_versions"),
        ("GET", rf"^{REG}/models$", "reg_models"),
        ("POST", rf"^{REG}/datarefs/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$", "reg_dataref"),
    )

    def authorize(self, req: Request) -> Reply | None:
        """ARM and the registry service want a bearer token from the AAD stand-in and a role."""
        if not req.path.startswith(("/subscriptions/", "/mferp/", "/registrymanagement/")):
            return None
        auth = req.headers.get("authorization", "")
        client = self.state.tokens.get(auth[7:]) if auth.lower().startswith("bearer ") else None
        if client is None:
            return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if client[0] in self.state.denied:
            app = self.state.apps[client[0]]
            return arm_error(
                403,
                "AuthorizationFailed",
                f"The client '{app.client_id}' with object id '{app.object_id}' does not have "
                f"authorization to perform action 'Microsoft.MachineLearningServices/workspaces/models/"
                f"versions/read' over scope '{req.path.split('/models')[0]}' or the scope is invalid. "
                "If access was recently granted, please refresh your credentials.",
            )
        return None

    def answer(self, req_line: tuple[str, str, str, dict[str, str], bytes]) -> Reply:
        method, host, target, headers, body = req_line
        split = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        with self.state.lock:
            self.state.requests.append(f"{method} {target}")
        status = self.state.fault_for(split.path)
        if status == 401:
            return arm_error(
                401,
                "InvalidAuthenticationTokenTenant",
                "The access token is from the wrong issuer. It must match the tenant associated with "
                "this subscription. Please use the authority (URL) 'https://login.windows.net/other' "
                "to get the token.",
            )
        if status is not None:
            return arm_error(status, "InternalServerError" if status >= 500 else "Injected", f"injected {status}")
        for route_method, pattern, name in self.ROUTES:
            match = re.match(pattern, split.path)
            if match and route_method == method:
                req = Request(method, host, split.path, query, headers, body, match)
                return self.authorize(req) or getattr(self, name)(req)
        return arm_error(404, "NoRoute", f"the stand-in has no route for {method} {split.path}")


def version_body(asset_id: str, v: Version, uri: str) -> dict[str, Any]:
    return {
        "id": asset_id,
        "name": v.version,
        "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
        "properties": {
            "description": None,
            "tags": {},
            "properties": {},
            "isArchived": False,
            "isAnonymous": False,
            "flavors": {},
            "modelType": "custom_model",
            "modelUri": uri,
            "provisioningState": "Succeeded",
        },
        "systemData": {
            "createdAt": iso(v.created),
            "createdBy": "stand-in",
            "createdByType": "User",
            "lastModifiedAt": iso(v.created),
        },
    }


def container_body(asset_id: str, name: str, versions: dict[str, Version]) -> dict[str, Any]:
    latest = ordered(versions, {"$orderBy": "createdtime desc"})
    return {
        "id": asset_id,
        "name": name,
        "properties": {
            "description": None,
            "tags": {},
            "properties": {},
            "isArchived": False,
            "latestVersion": latest[0].version if latest else None,
            "nextVersion": None,
        },
    }


def ordered(versions: dict[str, Version], query: dict[str, str]) -> list[Version]:
    listed = list(versions.values())
    if query.get("$orderBy", "").lower().startswith("createdtime"):
        listed.sort(key=lambda v: v.created, reverse=query["$orderBy"].lower().endswith("desc"))
    if "$top" in query:
        listed = listed[: int(query["$top"])]
    return listed


def not_found_asset(asset_id: str) -> Reply:
    return 404, {
        "error": {
            "code": "UserError",
            "message": f"Could not find asset with ID: {asset_id}",
            "innerError": {"code": "NotFound"},
        }
    }


def container_sas(container: str) -> str:
    expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    return generate_container_sas(
        DEV_ACCOUNT,
        container,
        account_key=DEV_KEY,
        expiry=expiry,
        permission=ContainerSasPermissions(read=True, list=True),
    )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    stand_in: StandIn

    def handle_one(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload = self.stand_in.answer(
            (self.command, headers.get("host", "").split(":")[0], self.path, headers, body)
        )
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if status == 401 and self.path.startswith(("/subscriptions/", "/mferp/")):
            self.send_header(
                "WWW-Authenticate",
                'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"',
            )
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_HEAD = handle_one

    def log_message(self, format: str, *args: Any) -> None:  # quiet; state.requests keeps the log
        pass


class TlsServer(ThreadingHTTPServer):
    """TLS handshakes happen in the request's own thread, so one slow client blocks no other."""

    daemon_threads = True
    context: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(30)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        super().finish_request(tls, client_address)


class HttpsServer:
    """A threaded HTTPS server on 127.0.0.1 with the test certificate, stopped by close()."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], certs: Certs) -> None:
        self.httpd = TlsServer(("127.0.0.1", 0), handler)
        self.httpd.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.httpd.context.load_cert_chain(certs.cert, certs.key)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def start_stand_in(state: AzureState, certs: Certs) -> HttpsServer:
    handler = type("StandInHandler", (Handler,), {"stand_in": StandIn(state)})
    return HttpsServer(handler, certs)
