"""The whole local Azure a test sees: stand-in, Azurite, proxy, and helpers to register models."""

from __future__ import annotations

import itertools
import time
from fnmatch import fnmatch
from pathlib import Path

from .azurite import Azurite, free_port
from .certs import Certs
from .proxy import ConnectProxy
from .server import HttpsServer, start_stand_in
from .state import App, AzureState, Datastore, Registry, Version, Workspace

TENANT = "72f988bf-0000-4000-8000-000000000001"
SUBSCRIPTION = "00000000-1111-4222-8333-444444444444"
STAND_IN_HOSTS = (
    "management.azure.com",
    "login.microsoftonline.com",
    "*.api.azureml.ms",
    "*.actions.githubusercontent.com",
    "*.stub.test",
)
_clock = itertools.count(1)


class AzureWorld:
    def __init__(self, folder: Path, certs: Certs) -> None:
        self.certs = certs
        self.state = AzureState()
        self.azurite = Azurite(self.certs, folder / "azurite.log")
        self.stand_in: HttpsServer = start_stand_in(self.state, self.certs)
        self.closed_port = free_port()  # nothing listens there: "down.*" hosts
        self.proxy = ConnectProxy(self._route)

    def _route(self, host: str, port: int) -> tuple[str, int]:
        if host.startswith("down."):
            return "127.0.0.1", self.closed_port
        if ".blob." in host:
            return "127.0.0.1", self.azurite.port
        if any(fnmatch(host, pattern) for pattern in STAND_IN_HOSTS):
            return "127.0.0.1", self.stand_in.port
        return host, port  # anything else (a package index, say) is passed through

    def environ(self) -> dict[str, str]:
        """What a test sets so the unmodified SDKs reach the local servers."""
        ca = str(self.certs.ca)
        local = "127.0.0.1,localhost"  # local registries and the engine stay direct
        return {
            "HTTPS_PROXY": self.proxy.url,
            "https_proxy": self.proxy.url,
            "REQUESTS_CA_BUNDLE": ca,
            "SSL_CERT_FILE": ca,
            "NO_PROXY": local,
            "no_proxy": local,
        }

    def close(self) -> None:
        self.proxy.close()
        self.stand_in.close()
        self.azurite.close()

    # --- identities -----------------------------------------------------------------------------
    def add_app(self, client_id: str, secret: str = "", federated: bool = False, tenant: str = TENANT) -> App:
        app = App(tenant=tenant, client_id=client_id, secret=secret, federated=federated)
        self.state.apps[client_id] = app
        return app

    # --- workspaces -----------------------------------------------------------------------------
    def add_workspace(
        self, name: str = "ws", resource_group: str = "rg", subscription: str = SUBSCRIPTION
    ) -> Workspace:
        ws = Workspace(subscription=subscription, resource_group=resource_group, name=name)
        self.state.workspaces[(subscription, resource_group, name)] = ws
        return ws

    def register_workspace_model(
        self,
        ws: Workspace,
        name: str,
        version: str,
        folder: Path,
        *,
        path: str = "",
        datastore: str = "workspaceblobstore",
        secrets_type: str = "AccountKey",
    ) -> Version:
        """Upload `folder` to Azurite and register it; later registrations count as newer."""
        container = f"azureml-blobstore-{ws.name}"
        ws.datastores.setdefault(datastore, Datastore(datastore, container, secrets_type))
        path = path or f"LocalUpload/{name}-{version}/{folder.name}"
        self.azurite.upload_folder(container, folder, path)
        entry = Version(name=name, version=version, path=path, created=time.time() + next(_clock))
        ws.models.setdefault(name, {})[version] = entry
        ws.model_datastore[(name, version)] = datastore
        return entry

    # --- registries -----------------------------------------------------------------------------
    def add_registry(self, name: str = "shared-models", resource_group: str = "registry-rg") -> Registry:
        reg = Registry(
            name=name, subscription=SUBSCRIPTION, resource_group=resource_group, container=f"registry-{name}"
        )
        self.state.registries[name] = reg
        return reg

    def register_registry_model(self, reg: Registry, name: str, version: str, folder: Path) -> Version:
        path = f"{name}/{version}/{folder.name}"
        self.azurite.upload_folder(reg.container, folder, path)
        entry = Version(name=name, version=version, path=path, created=time.time() + next(_clock))
        reg.models.setdefault(name, {})[version] = entry
        return entry
