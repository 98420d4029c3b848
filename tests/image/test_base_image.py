"""The pure parts of base_image.py: the reference, the probe's answer, the errors and when to use a local image."""

from __future__ import annotations

import pytest
from docker.models.images import Image

from onnx_package import retry
from onnx_package.errors import BuildError, SettingsError
from onnx_package.image.base_image import (
    SUPPORTED_PYTHONS,
    BaseImage,
    Probe,
    check_probe,
    local_digest,
    may_use_local,
    parse_base,
    parse_probe,
    probe_error,
    pull_failure,
    rate_limit_error,
)
from onnx_package.registry.distribution import RegistryError

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "name", "tag", "digest", "full_name"),
    [
        ("python:3.11-slim", "docker.io/library/python", "3.11-slim", "", "docker.io/library/python:3.11-slim"),
        ("python", "docker.io/library/python", "latest", "", "docker.io/library/python:latest"),
        ("127.0.0.1:5000/base/bookworm:1", "127.0.0.1:5000/base/bookworm", "1", "", "127.0.0.1:5000/base/bookworm:1"),
        ("localhost:5000/base", "localhost:5000/base", "latest", "", "localhost:5000/base:latest"),
        ("me/base:dev", "docker.io/me/base", "dev", "", "docker.io/me/base:dev"),
        (f"python@{DIGEST}", "docker.io/library/python", "", DIGEST, f"docker.io/library/python@{DIGEST}"),
        (f"ghcr.io/org/base:1@{DIGEST}", "ghcr.io/org/base", "1", DIGEST, "ghcr.io/org/base:1"),
    ],
)
def test_references_are_normalised(text, name, tag, digest, full_name):
    ref = parse_base(text)
    assert (ref.repository.name, ref.tag, ref.digest, ref.full_name) == (name, tag, digest, full_name)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("Python:3.12", "is not a valid image reference"),
        ("python:bad tag", "is not a valid image reference"),
        ("python@sha256:abc", "not sha256: and 64 hex digits"),
        ("python@md5:" + "a" * 32, "not sha256: and 64 hex digits"),
    ],
)
def test_bad_references_say_why_and_how(text, needle):
    with pytest.raises(SettingsError) as caught:
        parse_base(text)
    assert needle in caught.value.cause and "base-image" in caught.value.cause
    assert "python:3.12-slim" in caught.value.fix


def test_labels_name_the_base_with_its_registry_and_digest():
    base = BaseImage("python:3.11-slim", f"docker.io/library/python@{DIGEST}", DIGEST, "sha256:1", "3.11", "x86_64")
    assert base.labels() == {
        "org.opencontainers.image.base.name": "docker.io/library/python:3.11-slim",
        "org.opencontainers.image.base.digest": DIGEST,
    }


def test_a_local_only_base_has_no_digest_label():
    base = BaseImage("onnx-package-test/base:bookworm", "sha256:1", "", "sha256:1", "3.11", "x86_64")
    assert base.labels() == {"org.opencontainers.image.base.name": "docker.io/onnx-package-test/base:bookworm"}


def test_the_probe_answer_is_read_after_any_banner():
    output = 'Welcome to the base\n{"python": [3, 13], "machine": "aarch64", "libc": ["glibc", "2.41"]}\n'
    assert parse_probe(output, "b") == Probe("3.13", "aarch64", "glibc")


def test_an_unreadable_probe_answer_is_one_line():
    with pytest.raises(BuildError) as caught:
        parse_probe("Traceback (most recent call last):\n  ...\nSyntaxError: invalid syntax\n", "old:1")
    assert "did not say its version" in caught.value.cause and "\n" not in str(caught.value)


@pytest.mark.parametrize("python", SUPPORTED_PYTHONS)
def test_supported_pythons_pass(python):
    assert check_probe(Probe(python, "x86_64", "glibc"), "b").python == python


def test_an_unsupported_python_lists_the_supported_ones():
    with pytest.raises(BuildError) as caught:
        check_probe(Probe("3.10", "x86_64", "glibc"), "ubuntu:22.04")
    assert caught.value.cause == "base-image ubuntu:22.04 has Python 3.10; supported: 3.11, 3.12, 3.13, 3.14"
    assert "python:3.12-slim" in caught.value.fix


def test_musl_is_refused():
    with pytest.raises(BuildError) as caught:
        check_probe(Probe("3.12", "x86_64", ""), "python:3.12-alpine")
    assert "no glibc (musl, as on Alpine?)" in caught.value.cause and "glibc image" in caught.value.fix


def test_no_python3_is_named():
    err = probe_error("busybox:1", 'failed to create task: exec: "python3": executable file not found in $PATH')
    assert err.cause == "base-image busybox:1 has no python3"
    assert "Debian/Ubuntu image with python3 installed" in err.fix


@pytest.mark.parametrize(
    ("status", "message", "anonymous", "expected"),
    [
        (
            0,
            "cannot reach https://registry-1.docker.io/v2/ (gaierror: [Errno -2] Name or service not known)",
            True,
            True,
        ),
        (
            0,
            "cannot reach http://127.0.0.1:1/v2/ (ConnectionRefusedError: [Errno 111] Connection refused)",
            False,
            True,
        ),
        (0, "http://127.0.0.1:1/v2/ answered 404, not like a registry", True, False),
        (0, "cannot reach https://r.example/v2/ (SSLCertVerificationError: certificate verify failed)", True, False),
        (404, "r.example has no r.example/base:1", False, True),
        (401, "GET manifest docker.io/me/base:1 answered 401", True, True),
        (401, "GET manifest r.example/base:1 answered 401", False, False),
        (503, "r.example/v2/base/manifests/1 answered 503 (after 5 attempts)", True, False),
    ],
)
def test_when_the_local_image_may_stand_in(status, message, anonymous, expected):
    assert may_use_local(RegistryError(message, status), anonymous) is expected


def test_the_local_digest_is_the_one_recorded_for_that_repository():
    image = Image(attrs={"RepoDigests": [f"127.0.0.1:5000/other@sha256:{'cd' * 32}", f"python@{DIGEST}"]})
    assert local_digest(image, parse_base("python:3.11-slim").repository) == DIGEST
    assert local_digest(image, parse_base("127.0.0.1:5000/base:1").repository) == ""


def test_the_engine_s_rate_limit_is_retried_then_reported_as_docker_hub_s():
    message = "toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating"
    wanted = parse_base("python:3.12-slim")
    assert isinstance(pull_failure(wanted, message), retry.Retry)
    err = pull_failure(wanted, message, final=True)
    assert isinstance(err, BuildError)
    assert err.cause.startswith(
        "Docker Hub's pull rate limit stopped the pull of base-image docker.io/library/python:3.12-slim"
    )
    assert "docker/login-action" in err.fix and "mirror" in err.fix


def test_another_registry_s_rate_limit_names_it():
    err = rate_limit_error(parse_base("ghcr.io/org/base:1"), "answered 429 Too Many Requests")
    assert err.cause.startswith("ghcr.io's rate limit") and "log in to ghcr.io" in err.fix


def test_a_refused_pull_is_not_retried():
    err = pull_failure(parse_base("ghcr.io/org/base:1"), "unauthorized: authentication required")
    assert isinstance(err, BuildError) and "cannot pull base-image ghcr.io/org/base:1" in err.cause
