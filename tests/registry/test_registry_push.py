"""Pushing one image to real registries: plain (behind a fault proxy), basic auth, TLS with a custom CA,
one that is down, and an ACR stand-in; the build cache from the previous image."""

from __future__ import annotations

import io
import json
import time

import pytest
from acr_standin import ACR_USERNAME, AcrStandIn, TokenSigner, free_port, start_token_registry
from push_images import FAST_PUSH, make_context

from onnx_package.errors import PushError
from onnx_package.registry.auth import RegistryAuth
from onnx_package.registry.cache import pull_cache
from onnx_package.registry.push import push_all
from onnx_package.registry.refs import parse_repository
from onnx_package.registry.rights import check_credentials
from onnx_package.report import Reporter
from onnx_package.settings import Secret, Settings
from onnx_package.sources import azure_auth

pytestmark = pytest.mark.engine


def registry_auth_yaml(*registries) -> str:
    return "\n".join(f"- registry: {r.host}\n  username: {r.username}\n  password: {r.password}" for r in registries)


def settings_for(tmp_path, ca_file=None, auth_registries=()) -> Settings:
    (tmp_path / "docker-config").mkdir(exist_ok=True)
    return Settings(
        registry_ca=str(ca_file or ""),
        registry_auth=Secret(registry_auth_yaml(*auth_registries)),
        environ={"DOCKER_CONFIG": str(tmp_path / "docker-config")},
    )


def tag_for(client, image_id, repos, tags, cleanup):
    for repo in repos:
        for tag in tags:
            client.api.tag(image_id, repo.name, tag)
            cleanup.image(repo.ref(tag))


def push(client, settings, repos, tags, auth=None, annotations=None):
    reporter = Reporter(io.StringIO())
    try:
        pushed = push_all(
            client,
            settings,
            {repo: list(tags) for repo in repos},
            reporter,
            auth or RegistryAuth(settings),
            annotations,
            FAST_PUSH,
        )
    except PushError as err:
        return None, err, reporter.stream.getvalue()
    return pushed, None, reporter.stream.getvalue()


def test_three_registries_through_injected_5xx_429_and_resets(
    docker_client, mini_image, registry, auth_registry, tls_registry, fault_proxy, docker_cleanup, tmp_path
):
    proxy = fault_proxy(registry.url)
    proxy.inject("reset", r"^GET /v2/$")  # the engine's first ping is cut: the push is retried
    proxy.inject("429", r"^POST /v2/.*/blobs/uploads/")  # rate limited: toomanyrequests, retried
    proxy.inject("reset", r"^PATCH /v2/.*/blobs/uploads/")  # cut mid-upload: the engine retries the layer
    proxy.inject("500", r"^GET /v2/.*/manifests/")  # the digest check: retried
    proxy.inject("429", r"^GET /v2/.*/manifests/")  # and again, with Retry-After
    path = f"{docker_cleanup.prefix}/mini"
    repos = [parse_repository(f"{host}/{path}") for host in (proxy.host, auth_registry.host, tls_registry.host)]
    tag_for(docker_client, mini_image, repos, ["v1", "stable"], docker_cleanup)
    settings = settings_for(tmp_path, tls_registry.ca_file, [auth_registry])

    pushed, error, log = push(docker_client, settings, repos, ["v1", "stable"])

    assert error is None, log
    assert not proxy.pending, (proxy.pending, log)
    assert log.count("retrying in") >= 4, log
    digests = {p.ref: p.digest for p in pushed}
    assert len(digests) == 6 and len(set(digests.values())) == 1
    for backend, repo in zip((registry, auth_registry, tls_registry), repos, strict=True):
        for tag in ("v1", "stable"):
            assert backend.manifest_digest(path, tag) == digests[repo.ref(tag)]
    table = log[log.index("reference") :]
    assert all(ref in table for ref in digests), log
    assert "registry-auth" in table and "anonymous" in table
    assert auth_registry.password not in log


def test_a_dead_registry_fails_alone_with_a_report_while_the_others_hold_the_image(
    docker_client, mini_image, registry, docker_cleanup, tmp_path
):
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    path = f"{docker_cleanup.prefix}/mini"
    repos = [parse_repository(f"{dead}/{path}"), parse_repository(f"{registry.host}/{path}")]
    tag_for(docker_client, mini_image, repos, ["v1"], docker_cleanup)
    start = time.monotonic()

    pushed, error, log = push(docker_client, settings_for(tmp_path), repos, ["v1"])

    assert time.monotonic() - start < 30, log
    assert pushed is None and error is not None
    assert f"1 of 2 repositories failed ({dead}/{path})" in error.cause
    assert f"{registry.host}/{path} holds the image" in error.cause
    assert "up and reachable" in error.fix
    failed = [line for line in log.splitlines() if line.strip().startswith("FAILED")]
    assert len(failed) == 1 and dead in failed[0] and "connection refused" in failed[0] and "Fix:" in failed[0]
    assert registry.manifest_digest(path, "v1").startswith("sha256:")


def test_wrong_credentials_fail_at_once_and_say_how_to_log_in(
    docker_client, mini_image, auth_registry, docker_cleanup, tmp_path
):
    path = f"{docker_cleanup.prefix}/mini"
    repos = [parse_repository(f"{auth_registry.host}/{path}")]
    tag_for(docker_client, mini_image, repos, ["v1"], docker_cleanup)
    settings = Settings(
        registry_auth=Secret(f"- registry: {auth_registry.host}\n  username: tester\n  password: no"),
        environ={"DOCKER_CONFIG": str(tmp_path)},
    )

    pushed, error, log = push(docker_client, settings, repos, ["v1"])

    assert pushed is None and error is not None and "retrying" not in log
    assert "no basic auth credentials" in error.cause or "unauthorized" in error.cause.lower()
    assert "registry-auth" in error.fix
    assert auth_registry.manifest_digest(path, "v1") is None


def test_a_new_model_pushes_only_the_model_layer_with_the_previous_image_as_cache(
    docker_client, builder, registry, fault_proxy, docker_cleanup, tmp_path
):
    proxy = fault_proxy(registry.url)
    repo = parse_repository(f"{proxy.host}/{docker_cleanup.prefix}/cached")
    settings = settings_for(tmp_path)
    first = builder.build(make_context(tmp_path / "v1", deps_seed=5, model=b"model one" * 1000), repo.ref("1"))
    docker_cleanup.image(repo.ref("1"))
    _, error, log = push(docker_client, settings, [repo], ["1"])
    assert error is None, log
    first_layers = docker_client.api.inspect_image(first)["RootFS"]["Layers"]
    full = proxy.uploaded
    docker_client.images.remove(first, force=True)  # a fresh runner: nothing local but the base image

    proxy.reset_counters()
    reporter = Reporter(io.StringIO())
    cache = pull_cache(docker_client, settings, repo, ["2"], RegistryAuth(settings), reporter)
    assert cache == [repo.ref("1")], reporter.stream.getvalue()  # the previous model version
    context = make_context(tmp_path / "v2", deps_seed=5, model=b"model two" * 1000)  # fresh files, new mtimes
    second = builder.build(context, repo.ref("2"))
    docker_cleanup.image(repo.ref("2"))
    second_layers = docker_client.api.inspect_image(second)["RootFS"]["Layers"]
    assert second_layers[:-1] == first_layers[:-1] and second_layers[-1] != first_layers[-1]

    proxy.reset_counters()
    _, error, log = push(docker_client, settings, [repo], ["2"])
    assert error is None, log
    assert "(1 of " in log, log
    model_only = proxy.uploaded
    assert full > 2_000_000 and model_only < 20_000, (full, model_only)
    reported = [line for line in log.splitlines() if repo.ref("2") in line and "sha256:" in line][-1]
    assert f"{model_only / 1000:.1f} kB" in reported or f"{model_only} B" in reported, (model_only, log)


@pytest.fixture
def acr(tmp_path, test_ca):
    signer = TokenSigner(tmp_path / "signer")
    front = AcrStandIn("aad-token-for-the-test", signer, tls=(test_ca.cert_file, test_ca.key_file)).start()
    process = start_token_registry(tmp_path / "acr", front, signer)
    yield front
    process.terminate()
    process.wait(timeout=10)
    front.stop()


class FakeCredential:
    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)


def test_acr_with_the_azure_identity_pushes_without_a_password(
    docker_client, mini_image, acr, test_ca, docker_cleanup, tmp_path, monkeypatch
):
    monkeypatch.setattr(azure_auth, "azure_credential", lambda settings, mask: FakeCredential(acr.aad_token))
    repo = parse_repository(f"{acr.host}/{docker_cleanup.prefix}/mini")
    tag_for(docker_client, mini_image, [repo], ["v1"], docker_cleanup)
    settings = settings_for(tmp_path, test_ca.ca_file)
    masked: list[str] = []
    auth = RegistryAuth(settings, acr=lambda host: host == acr.host, mask=masked.append)

    pushed, error, log = push(docker_client, settings, [repo], ["v1"], auth)

    assert error is None, log
    assert [p.ref for p in pushed] == [repo.ref("v1")] and pushed[0].digest.startswith("sha256:")
    assert "Azure identity" in log
    assert len(acr.exchanges) == 1 and acr.exchanges[0]["service"] == acr.host
    assert "refresh_token" in acr.token_grants  # the engine and the digest check used the identity token
    refresh = next(iter(acr.refresh_tokens))
    assert refresh not in log and json.dumps(refresh) not in log
    assert refresh in masked  # the GitHub log hides it even if a library printed it


# --- push rights, proven before the build --------------------------------------------------------


@pytest.fixture
def pull_only(tmp_path, test_ca):
    """A token-auth registry whose token service grants pull only, whatever is asked (an AcrPull identity,
    a job without `packages: write`): it issues the token rather than refusing, as the spec says."""
    signer = TokenSigner(tmp_path / "signer")
    front = AcrStandIn("unused", signer, tls=(test_ca.cert_file, test_ca.key_file), granted=("pull",)).start()
    process = start_token_registry(tmp_path / "pull-only", front, signer)
    front.refresh_tokens.add("password-of-a-read-only-token")
    yield front
    process.terminate()
    process.wait(timeout=10)
    front.stop()


def read_only_auth(front: AcrStandIn) -> str:
    return f"- registry: {front.host}\n  username: {ACR_USERNAME}\n  password: password-of-a-read-only-token\n"


def test_a_token_that_may_only_pull_is_refused_before_the_build(docker_client, pull_only, test_ca, tmp_path):
    repo = parse_repository(f"{pull_only.host}/demo/wine")
    settings = Settings(
        registry_ca=str(test_ca.ca_file),
        registry_auth=Secret(read_only_auth(pull_only)),
        environ={"DOCKER_CONFIG": str(tmp_path)},
    )
    reporter = Reporter(io.StringIO())
    with pytest.raises(PushError) as caught:
        check_credentials(docker_client, settings, [repo], RegistryAuth(settings), reporter)
    assert f"{pull_only.host} does not let '{ACR_USERNAME}'" in caught.value.cause
    assert "push to demo/wine (401 to a blob upload)" in caught.value.cause or "(403" in caught.value.cause
    assert "AcrPush" in caught.value.fix and "packages: write" in caught.value.fix
    assert "basic" in pull_only.token_grants  # the login itself worked: only the rights were missing
    assert "password-of-a-read-only-token" not in str(caught.value) + reporter.stream.getvalue()


def test_a_token_that_may_push_passes_and_leaves_no_upload_behind(docker_client, pull_only, test_ca, tmp_path):
    pull_only.granted = ("pull", "push", "delete")  # cancelling an upload needs delete
    repo = parse_repository(f"{pull_only.host}/demo/wine")
    settings = Settings(
        registry_ca=str(test_ca.ca_file),
        registry_auth=Secret(read_only_auth(pull_only)),
        environ={"DOCKER_CONFIG": str(tmp_path)},
    )
    reporter = Reporter(io.StringIO())
    check_credentials(docker_client, settings, [repo], RegistryAuth(settings), reporter)
    assert f"{repo.name}: push allowed ('{ACR_USERNAME}' (from registry-auth))" in reporter.stream.getvalue()
    uploads = tmp_path / "pull-only" / "data" / "docker" / "registry" / "v2" / "repositories" / "demo" / "wine"
    assert list(uploads.glob("_uploads/*")), "the probe opened no upload"
    assert not list(uploads.glob("_uploads/*/startedat")), "the probe's upload was not cancelled"  # only its
    # hash state stays on disk: distribution keeps that file of a cancelled upload
