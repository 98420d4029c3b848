"""The registry API client against an in-process stub: auth schemes, retries, digests, endpoints."""

from __future__ import annotations

import ssl
import time

import pytest
from stubs import StubRegistry, manifest_body

from onnx_package import retry
from onnx_package.errors import SettingsError
from onnx_package.registry.distribution import (
    Credentials,
    Endpoint,
    RegistryError,
    Session,
    check_ca,
    endpoints,
    is_insecure,
    ssl_context,
)
from onnx_package.registry.refs import parse_repository

FAST = retry.Policy(attempts=4, first_delay=0.01, max_delay=5.0, budget=20.0)
ENGINE = {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {"docker.io": {"Secure": True}}}


@pytest.fixture
def stub():
    registry = StubRegistry()
    with registry.serve():
        yield registry


def session(stub: StubRegistry, credentials: Credentials | None = None, policy=FAST) -> Session:
    assert stub.proxy
    return Session([Endpoint(stub.proxy.url)], credentials, policy)


def repo_on(stub: StubRegistry, path: str = "demo/wine"):
    assert stub.proxy
    return parse_repository(f"{stub.proxy.host}/{path}")


def test_the_manifest_and_its_digest(stub):
    digest = stub.put("demo/wine", "v1", manifest_body([100, 2000]))
    manifest = session(stub).manifest(repo_on(stub), "v1")
    assert manifest and manifest.digest == digest
    assert manifest.layer_sizes() == [100, 2000] and manifest.config_size() == 1000


def test_an_absent_tag_is_none(stub):
    assert session(stub).manifest(repo_on(stub), "nope") is None


def test_a_digest_header_that_does_not_match_the_content_is_refused(stub):
    stub.put("demo/wine", "v1", manifest_body([1]))
    stub.lie = True
    with pytest.raises(RegistryError, match="serves content hashing to"):
        session(stub).manifest(repo_on(stub), "v1")


@pytest.mark.parametrize("faults", [["500"], ["429"], ["reset"], ["500", "429", "reset"]])
def test_5xx_429_and_dropped_connections_are_retried(stub, faults):
    digest = stub.put("demo/wine", "v1", manifest_body([1]))
    assert stub.proxy
    stub.proxy.retry_after = 0
    for kind in faults:
        stub.proxy.inject(kind)
    retried: list[str] = []
    api = session(stub)
    api.on_retry = lambda err, delay, n: retried.append(err.reason)
    manifest = api.manifest(repo_on(stub), "v1")
    assert manifest and manifest.digest == digest
    assert len(retried) == len(faults) and not stub.proxy.pending


def test_retry_after_is_waited_for(stub):
    stub.put("demo/wine", "v1", manifest_body([1]))
    assert stub.proxy
    stub.proxy.retry_after = 1
    stub.proxy.inject("429")
    start = time.monotonic()
    session(stub).manifest(repo_on(stub), "v1")
    assert time.monotonic() - start >= 1.0


def test_a_registry_that_keeps_failing_gives_up_within_the_policy(stub):
    assert stub.proxy
    stub.proxy.inject("500", times=10)
    with pytest.raises(RegistryError, match=r"answered 500 .*after 4 attempts"):
        session(stub).manifest(repo_on(stub), "v1")
    assert len(stub.proxy.served_faults) == 4


def test_basic_auth(stub):
    stub.auth = "basic"
    digest = stub.put("demo/wine", "v1", manifest_body([1]))
    manifest = session(stub, Credentials(stub.username, stub.password)).manifest(repo_on(stub), "v1")
    assert manifest and manifest.digest == digest


def test_wrong_credentials_are_not_retried(stub):
    stub.auth = "basic"
    assert stub.proxy
    with pytest.raises(RegistryError) as caught:
        session(stub, Credentials(stub.username, "wrong")).manifest(repo_on(stub), "v1")
    assert caught.value.status == 401
    assert sum(stub.proxy.requests.values()) == 0  # the stub answered itself; nothing was retried
    assert "wrong" not in str(caught.value)


def test_bearer_token_with_a_password(stub):
    stub.auth = "bearer"
    digest = stub.put("demo/wine", "v1", manifest_body([1]))
    manifest = session(stub, Credentials(stub.username, stub.password)).manifest(repo_on(stub), "v1")
    assert manifest and manifest.digest == digest
    assert stub.token_requests[0]["scope"] == "repository:demo/wine:pull"
    assert stub.token_requests[0]["method"] == "GET"


def test_bearer_token_with_an_identity_token_uses_the_refresh_token_grant(stub):
    stub.auth = "bearer"
    digest = stub.put("demo/wine", "v1", manifest_body([1]))
    manifest = session(stub, Credentials("00000000-0000-0000-0000-000000000000", "", stub.refresh_token)).manifest(
        repo_on(stub), "v1"
    )
    assert manifest and manifest.digest == digest
    request = stub.token_requests[0]
    assert request["method"] == "POST" and request["grant_type"] == "refresh_token"
    assert request["service"] == "stub"


def test_a_refused_token_says_who_was_refused_but_not_the_password(stub):
    stub.auth = "bearer"
    with pytest.raises(RegistryError) as caught:
        session(stub, Credentials("someone", "hunter2")).manifest(repo_on(stub), "v1")
    assert "'someone'" in str(caught.value) and "hunter2" not in str(caught.value)


def test_credentials_never_show_their_secrets():
    credentials = Credentials("me", "hunter2", "tok-123")
    assert "hunter2" not in repr(credentials) and "tok-123" not in repr(credentials)
    assert "hunter2" not in f"{credentials}"


def test_auth_config_for_the_engine():
    assert Credentials("me", "pw").auth_config() == {"username": "me", "password": "pw"}
    assert Credentials("u", "", "tok").auth_config() == {"username": "u", "identitytoken": "tok"}


def test_https_first_then_plain_http_for_insecure_registries(stub):
    assert stub.proxy
    digest = stub.put("demo/wine", "v1", manifest_body([1]))
    found = endpoints(stub.proxy.host, ENGINE, "")
    assert [e.base_url for e in found] == [f"https://{stub.proxy.host}", stub.proxy.url]
    api = Session(found, policy=FAST)
    manifest = api.manifest(repo_on(stub), "v1")
    assert manifest and manifest.digest == digest
    assert api.endpoint == found[1]


def test_public_registries_are_https_only():
    assert [e.base_url for e in endpoints("ghcr.io", ENGINE, "")] == ["https://ghcr.io"]
    assert [e.base_url for e in endpoints("docker.io", ENGINE, "")] == ["https://registry-1.docker.io"]


def test_a_registry_that_is_down_fails_at_once():
    api = Session([Endpoint("http://127.0.0.1:9")], policy=retry.Policy(attempts=5, first_delay=5))
    start = time.monotonic()
    with pytest.raises(RegistryError, match="ConnectionRefusedError"):
        api.manifest(parse_repository("127.0.0.1:9/demo/wine"), "v1")
    assert time.monotonic() - start < 3  # refused connections are not retried


@pytest.mark.parametrize(
    ("registry", "insecure"),
    [
        ("127.0.0.1:5000", True),
        ("localhost:5000", True),
        ("10.1.2.3:5000", False),
        ("ghcr.io", False),
        ("myreg.local:5000", True),
        ("[::1]:5000", False),
    ],
)
def test_insecure_registries_follow_the_engine(registry, insecure):
    assert is_insecure(registry, ["127.0.0.0/8"], {"myreg.local:5000"}) is insecure


def test_registry_ca_as_a_file_or_as_pem_text(test_ca, tmp_path):
    pem = test_ca.ca_file.read_text()
    for ca in (str(test_ca.ca_file), pem):
        check_ca(ca)
        context = ssl_context("127.0.0.1:1", ca)
        assert any(cert["subject"] == ((("commonName", "onnx-package test CA"),),) for cert in context.get_ca_certs())
    assert isinstance(ssl_context("127.0.0.1:1", ""), ssl.SSLContext)


def test_a_bad_registry_ca_stops_before_the_build(tmp_path):
    with pytest.raises(SettingsError, match="neither a file nor PEM"):
        check_ca(str(tmp_path / "missing.pem"))
    (tmp_path / "not.pem").write_text("hello")
    with pytest.raises(SettingsError, match="no PEM certificate"):
        check_ca(str(tmp_path / "not.pem"))


def test_the_docker_certs_d_layout_is_trusted(test_ca, tmp_path, monkeypatch):
    import onnx_package.registry.distribution as registry_module

    folder = tmp_path / "certs.d" / "myreg.example:5000"
    folder.mkdir(parents=True)
    (folder / "ca.crt").write_text(test_ca.ca_file.read_text())
    monkeypatch.setattr(registry_module, "CERTS_D", tmp_path / "certs.d")
    context = ssl_context("myreg.example:5000", "")
    assert any(cert["subject"] == ((("commonName", "onnx-package test CA"),),) for cert in context.get_ca_certs())
