"""Credentials per registry: registry-auth YAML, the docker login state, and ACR's token exchange."""

from __future__ import annotations

import base64
import json
import time

import pytest
from acr_standin import AcrStandIn, b64url
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from onnx_package.errors import PushError, SettingsError
from onnx_package.registry.auth import (
    ACR_USERNAME,
    Entry,
    RegistryAuth,
    acr_credentials,
    docker_login,
    is_acr,
    jwt_claims,
    normalize_registry,
    parse_registry_auth,
)
from onnx_package.registry.distribution import Credentials
from onnx_package.settings import Secret, Settings
from onnx_package.sources import azure_auth

GOOD = """
- registry: ghcr.io
  username: octocat
  password: ghp_secret1
- username: hubuser
  password: hub-secret2
- registry: https://quay.io/
  username: robot
  password: 12345
- registry: myacr.azurecr.io
"""


def settings(registry_auth: str = "", **kwargs) -> Settings:
    return Settings(registry_auth=Secret(registry_auth), **kwargs)


def aad_token(tenant: str = "tenant-1") -> str:
    return f"{b64url(b'{}')}.{b64url(json.dumps({'tid': tenant}).encode())}.sig"


class FakeCredential:
    def __init__(self, token: str = "", error: Exception | None = None) -> None:
        self.token, self.error, self.scopes = token, error, ()

    def get_token(self, *scopes, **kwargs):
        self.scopes = scopes
        if self.error:
            raise self.error
        return AccessToken(self.token, int(time.time()) + 3600)


# ---------------------------------------------------------------- registry-auth


def test_registry_auth_entries_like_docker_login_action():
    entries = parse_registry_auth(GOOD)
    assert entries["ghcr.io"] == Entry("ghcr.io", "octocat", "ghp_secret1")
    assert entries["docker.io"] == Entry("docker.io", "hubuser", "hub-secret2")  # no registry: Docker Hub
    assert entries["quay.io"].password == "12345"  # YAML numbers are strings here
    assert entries["myacr.azurecr.io"] == Entry("myacr.azurecr.io")  # ACR without password: Azure identity
    assert "ghp_secret1" not in repr(entries)


@pytest.mark.parametrize(
    ("text", "registry"),
    [
        ("ghcr.io", "ghcr.io"),
        ("https://index.docker.io/v1/", "docker.io"),
        ("GHCR.IO/", "ghcr.io"),
        ("registry-1.docker.io", "docker.io"),
        ("127.0.0.1:5000", "127.0.0.1:5000"),
        ("", "docker.io"),
    ],
)
def test_registry_names_are_normalized(text, registry):
    assert normalize_registry(text) == registry


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("- registry: ghcr.io\n  username: me\n  password: [unclosed-secret", "not valid YAML (line 3"),
        ("registry: ghcr.io\nusername: me\npassword: p", "not a YAML list"),
        ("- ghcr.io", "not a YAML list"),
        ("- registry: ghcr.io\n  user: me\n  password: p", "unknown keys: user"),
        ("- registry: ghcr.io\n  password: p", "has a password but no username"),
        ("- registry: ghcr.io\n  username: me", "has no password"),
        (
            "- {registry: ghcr.io, username: a, password: b}\n- {registry: GHCR.io, username: c, password: d}",
            "names ghcr.io twice",
        ),
        (
            "- {registry: 123456789012.dkr.ecr.eu-west-1.amazonaws.com, username: AKIAEXAMPLE, password: s}",
            "asks for an Amazon ECR login, which this action does not support",
        ),
        ("- {registry: public.ecr.aws, username: AKIAEXAMPLE, password: s, ecr: auto}", "Amazon ECR login"),
        ("- {registry: ghcr.io, username: a, password: b, ecr: true}", "Amazon ECR login"),
        ("- {registry: ghcr.io, username: a, password: b, ecr: maybe}", "ecr: maybe"),
    ],
)
def test_registry_auth_mistakes_say_what_and_how_without_the_secret(text, needle):
    with pytest.raises(SettingsError) as caught:
        parse_registry_auth(text)
    message = str(caught.value)
    assert needle in message and "Fix:" in message
    assert "unclosed-secret" not in message


def test_docker_login_action_entries_are_taken_as_they_are():
    """docker/login-action's registry-auth, pasted: `scope` is for the docker login it stores; plain ECR tokens
    (username AWS, or ecr: false) are plain logins."""
    entries = parse_registry_auth(
        "- registry: ghcr.io\n  username: me\n  password: p1\n  scope: org/model@push\n"
        "- registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com\n  username: AWS\n  password: p2\n"
        "- registry: 210987654321.dkr.ecr.us-east-1.amazonaws.com\n  username: u\n  password: p3\n  ecr: false\n"
    )
    assert entries["ghcr.io"] == Entry("ghcr.io", "me", "p1")
    assert entries["123456789012.dkr.ecr.us-east-1.amazonaws.com"].username == "AWS"
    assert entries["210987654321.dkr.ecr.us-east-1.amazonaws.com"].password == "p3"


def test_an_empty_registry_auth_is_no_entries():
    assert parse_registry_auth("  \n") == {}


def test_acr_hosts():
    assert is_acr("myacr.azurecr.io") and is_acr("myacr.azurecr.cn") and is_acr("myacr.azurecr.us")
    assert not is_acr("ghcr.io") and not is_acr("azurecr.io.evil.com")


# ---------------------------------------------------------------- the docker login state


def write_docker_config(folder, auths):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"auths": auths}))
    return {"DOCKER_CONFIG": str(folder)}


def test_docker_login_state_from_docker_config(tmp_path):
    environ = write_docker_config(
        tmp_path / "cfg",
        {
            "127.0.0.1:5000": {"auth": base64.b64encode(b"tester:pw-1").decode()},
            "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hubby:pw-2").decode()},
            "myacr.azurecr.io": {"auth": base64.b64encode(f"{ACR_USERNAME}:".encode()).decode(), "identitytoken": "rt"},
        },
    )
    assert docker_login("127.0.0.1:5000", environ) == Credentials("tester", "pw-1")
    assert docker_login("docker.io", environ) == Credentials("hubby", "pw-2")
    assert docker_login("myacr.azurecr.io", environ) == Credentials("", "", "rt")
    assert docker_login("ghcr.io", environ) is None


def test_registry_auth_wins_over_docker_login_which_wins_over_anonymous(tmp_path):
    environ = write_docker_config(
        tmp_path / "cfg",
        {
            "ghcr.io": {"auth": base64.b64encode(b"old:old-pw").decode()},
            "quay.io": {"auth": base64.b64encode(b"q:q-pw").decode()},
        },
    )
    auth = RegistryAuth(settings(GOOD, environ=environ))
    assert auth.credentials("ghcr.io") == Credentials("octocat", "ghp_secret1")
    assert auth.source("ghcr.io") == "registry-auth"
    masked: list[str] = []
    auth = RegistryAuth(settings("", environ=environ), mask=masked.append)
    assert auth.credentials("quay.io") == Credentials("q", "q-pw") and auth.source("quay.io") == "docker login"
    assert masked == ["q-pw"]  # a password from the runner's docker config is hidden from the log too
    assert auth.credentials("example.com:5000") is None and auth.source("example.com:5000") == "anonymous"
    assert auth.auth_config("quay.io") == {"username": "q", "password": "q-pw"}


# ---------------------------------------------------------------- Azure Container Registry


@pytest.fixture
def acr(test_ca):
    standin = AcrStandIn(aad_token(), tls=(test_ca.cert_file, test_ca.key_file)).start()
    yield standin
    standin.stop()


def test_acr_exchanges_the_azure_ad_token_for_a_refresh_token(acr, test_ca, monkeypatch):
    credential = FakeCredential(acr.aad_token)
    monkeypatch.setattr(azure_auth, "azure_credential", lambda s, mask: credential)
    found = acr_credentials(acr.host, settings(registry_ca=str(test_ca.ca_file)), lambda _: None)
    assert found.username == ACR_USERNAME and found.identity_token in acr.refresh_tokens and not found.password
    assert credential.scopes == ("https://management.azure.com/.default",)
    assert acr.exchanges == [{"grant_type": "access_token", "service": acr.host, "tenant": "tenant-1"}]


def test_acr_uses_the_azure_identity_when_no_password_is_given(acr, test_ca, monkeypatch, tmp_path):
    monkeypatch.setattr(azure_auth, "azure_credential", lambda s, mask: FakeCredential(acr.aad_token))
    given = settings(
        f"- registry: {acr.host}", registry_ca=str(test_ca.ca_file), environ={"DOCKER_CONFIG": str(tmp_path)}
    )
    with pytest.raises(SettingsError, match="has no password"):  # not an ACR name: a password is required
        RegistryAuth(given)
    masked: list[str] = []
    auth = RegistryAuth(
        settings(registry_ca=str(test_ca.ca_file), environ={"DOCKER_CONFIG": str(tmp_path)}),
        acr=lambda host: host == acr.host,
        mask=masked.append,
    )
    credentials = auth.credentials(acr.host)
    assert credentials and credentials.identity_token in acr.refresh_tokens
    assert masked == [credentials.identity_token]  # hidden from the log as soon as it arrives
    assert auth.source(acr.host) == "Azure identity"
    assert auth.auth_config(acr.host) == {"username": ACR_USERNAME, "identitytoken": credentials.identity_token}


def test_acr_refusing_the_identity_says_to_grant_acrpush(acr, test_ca, monkeypatch):
    monkeypatch.setattr(azure_auth, "azure_credential", lambda s, mask: FakeCredential(aad_token("other")))
    principal = json.dumps({"clientId": "app-123", "clientSecret": "sp-secret", "tenantId": "t"})
    with pytest.raises(PushError) as caught:
        acr_credentials(
            acr.host, settings(registry_ca=str(test_ca.ca_file), azure_credentials=Secret(principal)), lambda _: None
        )
    assert "refused the Azure identity's token (401" in caught.value.cause
    assert "AcrPush" in caught.value.fix and "app-123" in caught.value.fix
    assert "sp-secret" not in str(caught.value)


def test_no_azure_identity_is_one_clear_line(monkeypatch):
    error = ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token.\nAttempted: ...")
    monkeypatch.setattr(azure_auth, "azure_credential", lambda s, mask: FakeCredential(error=error))
    with pytest.raises(PushError) as caught:
        acr_credentials("myacr.azurecr.io", settings(), lambda _: None)
    assert caught.value.cause == (
        "no Azure identity to log in to myacr.azurecr.io (DefaultAzureCredential failed to retrieve a token.)"
    )
    assert "azure-credentials" in caught.value.fix and "registry-auth" in caught.value.fix


def test_a_failed_lookup_is_remembered_not_repeated(monkeypatch, tmp_path):
    calls = []

    def credential(_settings, _mask):
        calls.append(1)
        return FakeCredential(error=ClientAuthenticationError("nope"))

    monkeypatch.setattr(azure_auth, "azure_credential", credential)
    auth = RegistryAuth(settings(environ={"DOCKER_CONFIG": str(tmp_path)}))
    for _ in range(2):
        with pytest.raises(PushError):
            auth.credentials("myacr.azurecr.io")
    assert len(calls) == 1 and auth.source("myacr.azurecr.io") == "none"


def test_jwt_claims():
    assert jwt_claims(aad_token("abc")) == {"tid": "abc"}
    assert jwt_claims("not-a-jwt") == {} and jwt_claims("a.!!!.c") == {}
