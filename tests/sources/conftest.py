"""Local Azure for the model-source tests: stand-in control plane + AAD, Azurite, a CONNECT proxy.

The product code runs unmodified; a test only sets what a runner's environment could set
(HTTPS_PROXY, REQUESTS_CA_BUNDLE, SSL_CERT_FILE) and, for sovereign-cloud tests, the `cloud` input.

Fixtures
    azure_certs   the test CA and server certificate (session)
    azure_world   AzureWorld: servers started once per session, stopped at its end
    azure         the world emptied for this test, with the environment pointing at it
    file_server   (Files, base URL) of an HTTPS file server for the url source, emptied per test
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from amlstub.azurite import BIN
from amlstub.certs import Certs, make_certs
from amlstub.files import Files, start_file_server
from amlstub.world import AzureWorld

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Variables that would steer the SDKs elsewhere: cleared for every test.
STEERING = (
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "AZUREML_CURRENT_CLOUD",
    "ARM_CLOUD_METADATA_URL",
    "AZUREML_DEV_URL_MFE",
    "REGISTRY_DISCOVERY_ENDPOINT_URL",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "IDENTITY_ENDPOINT",
    "MSI_ENDPOINT",
    "HTTP_PROXY",
    "http_proxy",
)


@pytest.fixture(scope="session")
def azure_certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("azure-certs"))


@pytest.fixture(scope="session")
def azure_world(azure_certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureWorld]:
    if not BIN.exists():
        reason = f"Azurite is not installed ({BIN})"
        if IN_CI:
            pytest.fail(f"{reason}: run `npm ci --prefix tests/sources`", pytrace=False)
        pytest.skip(f"{reason}: run `npm ci --prefix tests/sources`")
    world = AzureWorld(tmp_path_factory.mktemp("azure"), azure_certs)
    yield world
    world.close()


@pytest.fixture
def azure(azure_world: AzureWorld, monkeypatch: pytest.MonkeyPatch) -> AzureWorld:
    azure_world.state.reset()
    azure_world.proxy.hosts.clear()
    for name in STEERING:
        monkeypatch.delenv(name, raising=False)
    for name, value in azure_world.environ().items():
        monkeypatch.setenv(name, value)
    return azure_world


@pytest.fixture(scope="session")
def _file_server(azure_certs: Certs) -> Iterator[tuple[Files, str]]:
    store = Files()
    server = start_file_server(store, azure_certs)
    yield store, f"https://127.0.0.1:{server.port}"
    server.close()


@pytest.fixture
def file_server(
    _file_server: tuple[Files, str], azure_certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> tuple[Files, str]:
    store, _ = _file_server
    store.reset()
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(azure_certs.ca))
    return _file_server
