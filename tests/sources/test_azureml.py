"""model-source azureml against the local stand-in, Azurite and the unmodified azure-ai-ml."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from amlstub.helpers import model_folder, sdk_auth, settings_for, workspace_settings
from amlstub.world import TENANT, AzureWorld
from onnx_package.errors import ModelError, ModelSourceError, PackageError, SettingsError
from onnx_package.sources import azure_auth, fetch
from onnx_package.sources.base import sha256_of

CLIENT, SECRET = "6f1c2d3e-0000-4000-8000-00000000c1e1", "s3cr3t-Value~xyz"
CREDENTIALS = sdk_auth(CLIENT, SECRET)


@pytest.fixture
def ws(azure: AzureWorld, tmp_path: Path):
    """A workspace with model wine versions 1 and 2 (2 is newer), readable by the CI app."""
    azure.add_app(CLIENT, secret=SECRET)
    workspace = azure.add_workspace()
    azure.register_workspace_model(workspace, "wine", "1", model_folder(tmp_path / "v1"))
    azure.register_workspace_model(workspace, "wine", "2", model_folder(tmp_path / "v2", "model_v2"))
    return workspace


def assert_clean(err: BaseException, caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    """A one-line message, with a fix, that shows no secret (nor does the log)."""
    assert isinstance(err, PackageError)
    text = str(err)
    assert "\n" not in text and ". Fix: " in text, text
    for secret in (SECRET, CREDENTIALS, *secrets):
        assert secret not in text and secret not in repr(err) and secret not in caplog.text


# --- what gets downloaded ---------------------------------------------------------------------------
def test_workspace_latest_resolves_to_newest_version(ws, azure: AzureWorld, tmp_path: Path) -> None:
    got = fetch(workspace_settings(azure_credentials=CREDENTIALS), tmp_path / "model")
    assert (got.name, got.version, got.model_file) == ("wine", "2", "onnx/model.onnx")
    assert (got.folder / "onnx" / "model.onnx").read_bytes() == b"onnx-bytes:model_v2"
    assert sorted(p.relative_to(got.folder).as_posix() for p in got.folder.rglob("*") if p.is_file()) == [
        "config.json",
        "onnx/model.onnx",
        "tokenizer.json",
    ]
    assert got.sha256 == sha256_of(got.model_path)
    assert any("$orderBy=createdtime%20desc&$top=1" in r for r in azure.state.requests)
    assert "devstoreaccount1.blob.core.windows.net" in azure.proxy.hosts


def test_explicit_version_from_sas_datastore(azure: AzureWorld, tmp_path: Path) -> None:
    azure.add_app(CLIENT, secret=SECRET)
    workspace = azure.add_workspace()
    azure.register_workspace_model(
        workspace, "wine", "7", model_folder(tmp_path / "src"), datastore="sas_store", secrets_type="Sas"
    )
    got = fetch(workspace_settings(azure_credentials=CREDENTIALS, model_version="7"), tmp_path / "model")
    assert got.version == "7" and got.model_path.read_bytes() == b"onnx-bytes:model_v1"
    assert any("/datastores/sas_store/listSecrets" in r for r in azure.state.requests)


def test_identity_based_datastore_reads_blobs_with_the_login(azure: AzureWorld, tmp_path: Path) -> None:
    azure.add_app(CLIENT, secret=SECRET)
    workspace = azure.add_workspace()
    azure.register_workspace_model(
        workspace, "wine", "5", model_folder(tmp_path / "src"), datastore="rbac_store", secrets_type="None"
    )
    got = fetch(workspace_settings(azure_credentials=CREDENTIALS), tmp_path / "model")
    assert got.version == "5" and got.model_path.read_bytes() == b"onnx-bytes:model_v1"
    assert "https://storage.azure.com/.default" in {scope for _, scope in azure.state.tokens.values()}


def test_v1_does_not_take_the_files_of_v10(azure: AzureWorld, tmp_path: Path) -> None:
    azure.add_app(CLIENT, secret=SECRET)
    workspace = azure.add_workspace()
    azure.register_workspace_model(
        workspace, "wine", "1", model_folder(tmp_path / "a", "model_v1"), path="models/model_v1"
    )
    azure.register_workspace_model(
        workspace, "wine", "10", model_folder(tmp_path / "b", "model_v10"), path="models/model_v10"
    )
    got = fetch(workspace_settings(azure_credentials=CREDENTIALS, model_version="1"), tmp_path / "model")
    files = sorted(p.relative_to(got.folder).as_posix() for p in got.folder.rglob("*") if p.is_file())
    assert files == ["config.json", "onnx/model.onnx", "tokenizer.json"]
    assert got.model_path.read_bytes() == b"onnx-bytes:model_v1"


def test_one_file_model(azure: AzureWorld, tmp_path: Path) -> None:
    azure.add_app(CLIENT, secret=SECRET)
    workspace = azure.add_workspace()
    folder = model_folder(tmp_path / "src", "single", {"wine.onnx": b"one file"})
    azure.register_workspace_model(workspace, "wine", "3", folder, path="single")
    workspace.models["wine"]["3"].path = "single/wine.onnx"  # registered from the file, not the folder
    got = fetch(workspace_settings(azure_credentials=CREDENTIALS, model_version="3"), tmp_path / "model")
    assert got.model_file == "wine.onnx" and got.model_path.read_bytes() == b"one file"


def test_model_file_picks_one_of_several(azure: AzureWorld, tmp_path: Path) -> None:
    azure.add_app(CLIENT, secret=SECRET)
    workspace = azure.add_workspace()
    folder = model_folder(tmp_path / "src", "seq2seq", {"onnx/encoder.onnx": b"enc", "onnx/decoder.onnx": b"dec"})
    azure.register_workspace_model(workspace, "wine", "1", folder)
    with pytest.raises(ModelError, match=r"several \.onnx files"):
        fetch(workspace_settings(azure_credentials=CREDENTIALS), tmp_path / "first")
    got = fetch(workspace_settings(azure_credentials=CREDENTIALS, model_file="decoder.onnx"), tmp_path / "second")
    assert got.model_file == "onnx/decoder.onnx" and got.model_path.read_bytes() == b"dec"


def test_sha256_must_match(ws, tmp_path: Path) -> None:
    expected = sha256_of(model_folder(tmp_path / "copy", "model_v2") / "onnx" / "model.onnx")
    got = fetch(workspace_settings(azure_credentials=CREDENTIALS, model_sha256=expected.upper()), tmp_path / "ok")
    assert got.sha256 == expected
    with pytest.raises(ModelError, match="sha256 of wine version 2") as caught:
        fetch(workspace_settings(azure_credentials=CREDENTIALS, model_sha256="0" * 64), tmp_path / "bad")
    assert expected in str(caught.value)


def test_registry_model_latest(azure: AzureWorld, tmp_path: Path) -> None:
    azure.add_app(CLIENT, secret=SECRET)
    registry = azure.add_registry("shared-models")
    azure.register_registry_model(registry, "wine", "4", model_folder(tmp_path / "a", "model_v4"))
    azure.register_registry_model(registry, "wine", "5", model_folder(tmp_path / "b", "model_v5"))
    got = fetch(
        settings_for(registry_name="shared-models", model_name="wine", azure_credentials=CREDENTIALS),
        tmp_path / "model",
    )
    assert (got.version, got.model_file) == ("5", "onnx/model.onnx")
    assert got.model_path.read_bytes() == b"onnx-bytes:model_v5"
    assert (got.folder / "tokenizer.json").exists()
    assert any("/registries/shared-models/datarefs/wine/versions/5" in r for r in azure.state.requests)


# --- how the action logs in -------------------------------------------------------------------------
def oidc_environ(azure: AzureWorld) -> dict[str, str]:
    return {
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://pipelines.actions.githubusercontent.com/github/idtoken"
        "?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": azure.state.github_request_token,
        "GITHUB_REPOSITORY": "octo/models",
        "GITHUB_REF": "refs/heads/main",
    }


def test_oidc_login_without_a_secret(ws, azure: AzureWorld, tmp_path: Path, monkeypatch) -> None:
    azure.add_app("oidc-app", federated=True)
    for name, value in oidc_environ(azure).items():
        monkeypatch.setenv(name, value)
    masked: list[str] = []
    got = fetch(workspace_settings(client_id="oidc-app", tenant_id=TENANT), tmp_path / "model", masked.append)
    assert got.version == "2"
    assert len(azure.state.github_tokens) == 1
    # Every token learned during the run goes to the log's mask: the GitHub one and Azure AD's.
    assert set(azure.state.github_tokens) | set(azure.state.tokens) <= set(masked)
    assert any(
        r.startswith("GET /github/idtoken?api-version=2.0&audience=api://AzureADTokenExchange")
        for r in azure.state.requests
    )


def test_oidc_token_is_fetched_fresh_each_time(azure: AzureWorld) -> None:
    get_token = azure_auth.github_oidc_token(oidc_environ(azure))
    first, second = get_token(), get_token()
    assert first != second and azure.state.github_tokens == [first, second]


def test_default_credential_uses_the_environment(ws, azure: AzureWorld, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT)
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
    got = fetch(workspace_settings(), tmp_path / "model")
    assert got.version == "2"


def test_subscription_comes_from_the_credentials_json(ws, tmp_path: Path) -> None:
    got = fetch(workspace_settings(subscription_id="", azure_credentials=CREDENTIALS), tmp_path / "model")
    assert got.version == "2"


def test_custom_cloud_metadata(ws, azure: AzureWorld, tmp_path: Path) -> None:
    cloud = json.dumps(
        {
            "name": "LocalStub",
            "resource_manager": "https://management.stub.test/",
            "active_directory": "https://login.stub.test/",
            "storage_endpoint": "stub.test",
            "registry_discovery_endpoint": "https://discovery.stub.test/",
        }
    )
    got = fetch(workspace_settings(azure_credentials=CREDENTIALS, cloud=cloud), tmp_path / "model")
    assert got.version == "2"
    registry = azure.add_registry("sovereign")
    azure.register_registry_model(registry, "wine", "8", model_folder(tmp_path / "r"))
    got = fetch(
        settings_for(registry_name="sovereign", model_name="wine", azure_credentials=CREDENTIALS, cloud=cloud),
        tmp_path / "registry-model",
    )
    assert got.version == "8"
    assert {"login.stub.test", "management.stub.test", "discovery.stub.test", "devstoreaccount1.blob.stub.test"} <= set(
        azure.proxy.hosts
    )
    public = ("azure.com", "microsoftonline.com", "azureml.ms", "windows.net")
    assert not [host for host in azure.proxy.hosts if host.endswith(public)]


def test_builtin_clouds_have_their_endpoints() -> None:
    china = azure_auth.cloud_of(settings_for(cloud="azurechinacloud"))
    assert china.name == "AzureChinaCloud" and china.mlclient_kwargs() == {"cloud": "AzureChinaCloud"}
    assert china.resource_manager_scope == "https://management.chinacloudapi.cn/.default"
    assert azure_auth.cloud_of(settings_for()).active_directory == "https://login.microsoftonline.com/"


# --- errors: one line, cause and fix, no secret ------------------------------------------------------
def test_wrong_client_secret(ws, tmp_path: Path, caplog) -> None:
    wrong = sdk_auth(CLIENT, "not-the-secret-123")
    with pytest.raises(azure_auth.AzureLoginError) as caught:
        fetch(workspace_settings(azure_credentials=wrong), tmp_path / "model")
    assert CLIENT in str(caught.value) and "AADSTS7000215" in str(caught.value)
    assert "az ad app credential reset" in caught.value.fix
    assert_clean(caught.value, caplog, "not-the-secret-123")


def test_identity_without_a_role(ws, azure: AzureWorld, tmp_path: Path, caplog) -> None:
    azure.state.denied.add(CLIENT)
    with pytest.raises(ModelSourceError) as caught:
        fetch(workspace_settings(azure_credentials=CREDENTIALS), tmp_path / "model")
    message = str(caught.value)
    assert "403" in message and CLIENT in message and '"AzureML Data Scientist"' in message
    assert "/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws" in caught.value.fix
    assert_clean(caught.value, caplog)


def test_token_of_another_tenant(ws, azure: AzureWorld, tmp_path: Path, caplog) -> None:
    azure.state.fail(r"/models/", 401)
    with pytest.raises(ModelSourceError) as caught:
        fetch(workspace_settings(azure_credentials=CREDENTIALS), tmp_path / "model")
    assert "Azure ML refused the token of the service principal with client id" in str(caught.value)
    assert "401 InvalidAuthenticationTokenTenant" in str(caught.value) and "tenant" in caught.value.fix
    assert_clean(caught.value, caplog)


def test_unknown_version_lists_the_versions(ws, tmp_path: Path, caplog) -> None:
    with pytest.raises(ModelSourceError) as caught:
        fetch(workspace_settings(azure_credentials=CREDENTIALS, model_version="9"), tmp_path / "model")
    assert "model wine has no version 9 in workspace ws" in str(caught.value)
    assert "it has versions 1, 2" in str(caught.value)
    assert_clean(caught.value, caplog)


def test_unknown_model_lists_the_models(ws, tmp_path: Path, caplog) -> None:
    for version in ("latest", "3"):
        with pytest.raises(ModelSourceError) as caught:
            fetch(
                workspace_settings(azure_credentials=CREDENTIALS, model_name="wien", model_version=version),
                tmp_path / version,
            )
        assert "model wien does not exist in workspace ws" in str(caught.value)
        assert "its models are wine" in str(caught.value)
        assert_clean(caught.value, caplog)


def test_unknown_workspace(ws, tmp_path: Path, caplog) -> None:
    with pytest.raises(ModelSourceError) as caught:
        fetch(workspace_settings(azure_credentials=CREDENTIALS, workspace="nope"), tmp_path / "model")
    assert "workspace nope (resource group rg" in str(caught.value) and "ParentResourceNotFound" in str(caught.value)
    assert "resource-group" in caught.value.fix
    assert_clean(caught.value, caplog)


def test_unknown_registry(ws, tmp_path: Path, caplog) -> None:
    with pytest.raises(ModelSourceError, match="registry elsewhere was not found") as caught:
        fetch(
            settings_for(registry_name="elsewhere", model_name="wine", azure_credentials=CREDENTIALS),
            tmp_path / "model",
        )
    assert_clean(caught.value, caplog)


def test_server_errors_are_retried_then_reported(ws, azure: AzureWorld, tmp_path: Path, caplog) -> None:
    azure.state.fail(r"/models/wine/versions/2$", 500, times=1)
    assert fetch(workspace_settings(azure_credentials=CREDENTIALS), tmp_path / "once").version == "2"
    azure.state.fail(r"/models/wine/versions/2$", 503)
    with pytest.raises(ModelSourceError) as caught:
        fetch(workspace_settings(azure_credentials=CREDENTIALS), tmp_path / "always")
    assert "answered 503" in str(caught.value) and "after retries" in str(caught.value)
    gets = [r for r in azure.state.requests if "/models/wine/versions/2?" in r]
    assert len(gets) == 2 + 4  # the first run's failure and retry, then one try and three retries
    assert_clean(caught.value, caplog)


def test_unreachable_service(ws, tmp_path: Path, caplog) -> None:
    cloud = json.dumps(
        {
            "name": "Down",
            "resource_manager": "https://down.stub.test/",
            "active_directory": "https://login.stub.test/",
            "storage_endpoint": "stub.test",
            "registry_discovery_endpoint": "https://down.stub.test/",
        }
    )
    with pytest.raises(ModelSourceError, match="could not reach Azure") as caught:
        fetch(workspace_settings(azure_credentials=CREDENTIALS, cloud=cloud), tmp_path / "model")
    assert_clean(caught.value, caplog)


def test_storage_refuses_the_datastore_key(azure: AzureWorld, tmp_path: Path, caplog) -> None:
    azure.add_app(CLIENT, secret=SECRET)
    workspace = azure.add_workspace()
    azure.register_workspace_model(
        workspace, "wine", "1", model_folder(tmp_path / "src"), datastore="stale", secrets_type="StaleKey"
    )
    with pytest.raises(ModelSourceError) as caught:
        fetch(workspace_settings(azure_credentials=CREDENTIALS), tmp_path / "model")
    assert "blob storage refused the datastore's account key" in str(caught.value)
    assert "datastore stale" in caught.value.fix
    assert_clean(caught.value, caplog)


def test_oidc_app_without_federated_credential(ws, azure: AzureWorld, tmp_path: Path, monkeypatch, caplog) -> None:
    azure.add_app("plain-app", secret="other-secret")
    for name, value in oidc_environ(azure).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(azure_auth.AzureLoginError) as caught:
        fetch(workspace_settings(client_id="plain-app", tenant_id=TENANT), tmp_path / "model")
    assert "AADSTS70021" in str(caught.value) and "plain-app" in str(caught.value)
    assert "subject repo:octo/models:ref:refs/heads/main" in caught.value.fix
    assert_clean(caught.value, caplog, *azure.state.github_tokens, azure.state.github_request_token)


def test_the_audience_input_reaches_github_and_must_match_the_federated_credential(
    ws, azure: AzureWorld, tmp_path: Path, monkeypatch, caplog
) -> None:
    azure.add_app("sovereign-app", federated=True).audience = "api://AzureADTokenExchangeUSGov"
    for name, value in oidc_environ(azure).items():
        monkeypatch.setenv(name, value)
    got = fetch(
        workspace_settings(client_id="sovereign-app", tenant_id=TENANT, audience="api://AzureADTokenExchangeUSGov"),
        tmp_path / "model",
    )
    assert got.version == "2"
    assert any("&audience=api://AzureADTokenExchangeUSGov" in r for r in azure.state.requests)

    with pytest.raises(azure_auth.AzureLoginError) as caught:  # the default audience: no matching credential
        fetch(workspace_settings(client_id="sovereign-app", tenant_id=TENANT), tmp_path / "again")
    assert "AADSTS70021" in caught.value.cause
    assert (
        "issuer https://token.actions.githubusercontent.com, subject repo:octo/models:ref:refs/heads/main, "
        "audience api://AzureADTokenExchange "
    ) in caught.value.fix
    assert_clean(caught.value, caplog, *azure.state.github_tokens, azure.state.github_request_token)


def test_a_failed_federation_names_the_tokens_own_issuer_on_github_enterprise_server(
    ws, azure: AzureWorld, tmp_path: Path, monkeypatch, caplog
) -> None:
    azure.add_app("plain-app", secret="other-secret")
    azure.state.github_issuer = "https://ghes.example.com/_services/token"
    for name, value in {**oidc_environ(azure), "GITHUB_SERVER_URL": "https://ghes.example.com"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(azure_auth.AzureLoginError) as caught:
        fetch(workspace_settings(client_id="plain-app", tenant_id=TENANT), tmp_path / "model")
    assert "issuer https://ghes.example.com/_services/token, subject repo:octo/models" in caught.value.fix
    assert "githubusercontent" not in str(caught.value)
    assert_clean(caught.value, caplog, *azure.state.github_tokens, azure.state.github_request_token)


def test_no_login_at_all(ws, tmp_path: Path, caplog) -> None:
    with pytest.raises(azure_auth.AzureLoginError) as caught:
        fetch(workspace_settings(), tmp_path / "model")
    assert "DefaultAzureCredential" in str(caught.value) and "azure-credentials" in caught.value.fix
    assert_clean(caught.value, caplog)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"workspace": ""}, "model-source azureml needs workspace"),
        (
            {"subscription_id": "", "azure_credentials": sdk_auth(CLIENT, SECRET, subscription="")},
            "needs subscription-id",
        ),
        ({"registry_name": "shared"}, "both workspace (ws) and registry-name (shared) are set"),
        ({"client_id": "oidc-app", "tenant_id": TENANT}, "permissions: id-token: write"),
        ({"client_id": "oidc-app"}, "needs both client-id and tenant-id"),
        ({"azure_credentials": '{"clientId": "x", "clientSecret": "s3cr3t-Value~xyz"'}, "not a JSON object"),
        ({"azure_credentials": '{"clientId": "x", "clientSecret": "s3cr3t-Value~xyz"}'}, "has no tenantId"),
        ({"cloud": "AzureGermanCloud"}, "not a known Azure cloud"),
        ({"cloud": '{"resource_manager": "https://m/"}'}, "misses active_directory, storage_endpoint"),
        ({"model_label": "production"}, "model-label 'production' is not a label"),
        ({"model_version": "2", "model_label": "production"}, "both model-version (2) and model-label (production)"),
    ],
)
def test_input_errors(ws, tmp_path: Path, caplog, values: dict[str, str], expected: str) -> None:
    values = {"azure_credentials": CREDENTIALS, **values} if "client_id" not in values else values
    with pytest.raises(SettingsError) as caught:
        fetch(workspace_settings(**values), tmp_path / "model")
    assert expected in str(caught.value)
    assert_clean(caught.value, caplog)


def test_secrets_never_show(ws, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="onnx_package")
    settings = workspace_settings(azure_credentials=CREDENTIALS)
    fetch(settings, tmp_path / "model")
    assert SECRET not in repr(settings) and SECRET not in repr(azure_auth.service_principal(settings))
    assert SECRET not in caplog.text
