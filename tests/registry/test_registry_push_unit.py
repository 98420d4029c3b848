"""push.py without an engine: reading the push stream, which failures are retried, bytes, the report."""

from __future__ import annotations

import io

import pytest
from stubs import StubRegistry, manifest_body

from onnx_package import retry
from onnx_package.errors import PushError
from onnx_package.registry.cache import previous_tag, version_tags
from onnx_package.registry.distribution import Endpoint, Manifest, Session
from onnx_package.registry.push import PushStream, push_tag, stream_failure, uploaded_bytes
from onnx_package.registry.refs import Pushed, parse_repository
from onnx_package.registry.report import RepositoryReport, human_bytes, report_lines
from onnx_package.report import Reporter

REPO = parse_repository("127.0.0.1:5000/demo/wine")
FAST = retry.Policy(attempts=3, first_delay=0.001, max_delay=1, budget=5)


@pytest.mark.parametrize(
    "message",
    [
        "received unexpected HTTP status: 500 Internal Server Error",
        "received unexpected HTTP status: 503 Service Unavailable",
        "toomanyrequests: You have reached your pull rate limit",
        "error parsing HTTP 429 response body: unexpected end of JSON input",
        'Get "http://127.0.0.1:5000/v2/": read tcp 127.0.0.1:1->127.0.0.1:5000: read: connection reset by peer',
        "Patch https://ghcr.io/v2/x/blobs/uploads/1: EOF",
        "net/http: TLS handshake timeout",
        "write tcp 10.0.0.1:1->10.0.0.2:443: write: broken pipe",
    ],
)
def test_transient_engine_errors_are_retried(message):
    assert isinstance(stream_failure(message, REPO.ref("v1")), retry.Retry)


@pytest.mark.parametrize(
    ("message", "fix"),
    [
        ("unauthorized: authentication required", "registry-auth"),
        ("denied: requested access to the resource is denied", "docker/login-action"),
        ("no basic auth credentials", "registry-auth"),
        ("received unexpected HTTP status: 403 Forbidden", "log in"),
        (
            'Get "https://10.0.0.5:5000/v2/": x509: certificate signed by unknown authority',
            "/etc/docker/certs.d/127.0.0.1:5000/ca.crt",
        ),
        ('Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused', "up and reachable"),
        ("name unknown: repository name not known to registry", "image reference"),
    ],
)
def test_final_engine_errors_are_not_retried_and_say_the_fix(message, fix):
    failure = stream_failure(message, REPO.ref("v1"))
    assert isinstance(failure, PushError)
    assert message in failure.cause and fix in failure.fix


def chunks_of_a_push(*layer_statuses, digest="sha256:" + "d" * 64):
    for layer, status in layer_statuses:
        yield {"status": "Preparing", "id": layer}
        yield {"status": status, "id": layer}
    yield {"status": "v1: digest: ...", "progressDetail": {}}
    yield {"progressDetail": {}, "aux": {"Tag": "v1", "Digest": digest, "Size": 1000}}


def test_the_stream_gives_the_digest_and_the_layers_really_uploaded():
    reporter = Reporter(io.StringIO())
    stream = PushStream(REPO.ref("v1"), reporter)
    stream.read(chunks_of_a_push(("aaa", "Layer already exists"), ("bbb", "Pushed"), ("ccc", "Mounted from x/y")))
    assert stream.digest == "sha256:" + "d" * 64 and stream.uploaded == {"bbb"}


def test_the_engines_own_retries_are_logged_once_per_layer():
    reporter = Reporter(io.StringIO())
    stream = PushStream(REPO.ref("v1"), reporter)
    stream.read(
        [{"status": f"Retrying in {n} seconds", "id": "abc"} for n in (5, 4, 3, 2, 1)]
        + [{"status": "Pushed", "id": "abc"}]
    )
    assert reporter.stream.getvalue().count("the engine retries layer abc") == 1


class FakeAPI:
    """client.api.push replaying scripted streams, one per call."""

    def __init__(self, *streams):
        self.streams = list(streams)
        self.calls = []

    def push(self, name, tag, stream, decode, auth_config):
        self.calls.append(auth_config)
        return iter(self.streams.pop(0))


class FakeClient:
    def __init__(self, *streams):
        self.api = FakeAPI(*streams)


def error(message):
    return [{"status": "Preparing", "id": "a"}, {"errorDetail": {"message": message}, "error": message}]


def test_push_tag_retries_transient_failures_then_succeeds():
    client = FakeClient(
        error("toomanyrequests: slow down"),
        error("received unexpected HTTP status: 502 Bad Gateway"),
        list(chunks_of_a_push(("a", "Pushed"))),
    )
    reporter = Reporter(io.StringIO())
    stream = push_tag(client, REPO, "v1", {"username": "u", "password": "p"}, reporter, FAST)
    assert stream.digest.startswith("sha256:") and len(client.api.calls) == 3
    log = reporter.stream.getvalue()
    assert "retrying in" in log and "attempt 3 of 3" in log and "'p'" not in log


def test_push_tag_gives_up_after_the_policy_with_the_last_cause():
    client = FakeClient(*[error("received unexpected HTTP status: 503 Service Unavailable")] * 3)
    with pytest.raises(PushError) as caught:
        push_tag(client, REPO, "v1", None, Reporter(io.StringIO()), FAST)
    assert "503 Service Unavailable" in caught.value.cause and "after 3 attempts" in caught.value.cause
    assert "kept failing" in caught.value.fix


def test_push_tag_does_not_retry_a_denied_push():
    client = FakeClient(error("denied: requested access to the resource is denied"), [])
    with pytest.raises(PushError, match="denied"):
        push_tag(client, REPO, "v1", None, Reporter(io.StringIO()), FAST)
    assert len(client.api.calls) == 1


def test_a_stream_without_a_digest_is_a_failure():
    client = FakeClient([{"status": "Pushed", "id": "a"}])
    with pytest.raises(PushError, match="reported no digest"):
        push_tag(client, REPO, "v1", None, Reporter(io.StringIO()), FAST)


def test_bytes_sent_are_the_uploaded_layers_plus_config_and_manifest():
    body = manifest_body([50_000_000, 300_000, 7_000], config_size=2_000)
    manifest = Manifest("sha256:x", body)
    diff_ids = ["sha256:" + "1" * 64, "sha256:" + "2" * 64, "sha256:" + "3" * 64]
    assert uploaded_bytes(manifest, diff_ids, {"3" * 12}) == (7_000 + 2_000 + len(body), 1)
    assert uploaded_bytes(manifest, diff_ids, set()) == (len(body), 0)  # another tag: the manifest only
    assert uploaded_bytes(manifest, diff_ids[:2], {"3" * 12}) == (len(body), 0)  # cannot tell: manifest only


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 B"), (999, "999 B"), (5_208, "5.2 kB"), (74_300_000, "74.3 MB"), (2_500_000_000, "2.5 GB")],
)
def test_human_bytes(count, text):
    assert human_bytes(count) == text


def test_the_report_is_a_table_then_one_line_per_failure():
    good = RepositoryReport(
        REPO,
        [Pushed(REPO, "v1", "sha256:abc"), Pushed(REPO, "stable", "sha256:abc")],
        bytes_pushed=5_208,
        seconds=1.25,
        credentials="registry-auth",
    )
    dead = parse_repository("127.0.0.1:5999/demo/wine")
    bad = RepositoryReport(
        dead,
        seconds=0.01,
        credentials="anonymous",
        error=PushError(
            "pushing 127.0.0.1:5999/demo/wine:v1 failed: connection refused", "check that 127.0.0.1:5999 is up"
        ),
    )
    lines = list(report_lines([good, bad]))
    assert lines[0].split() == ["reference", "digest", "sent", "time", "credentials"]
    assert lines[1].split() == [REPO.ref("v1"), "sha256:abc", "5.2", "kB", "1.2", "s", "registry-auth"]
    assert lines[2].split() == [REPO.ref("stable"), "sha256:abc"]
    assert lines[3].split() == [dead.name, "FAILED", "0.0", "s", "anonymous"]
    assert lines[4] == (
        "    FAILED 127.0.0.1:5999/demo/wine: pushing 127.0.0.1:5999/demo/wine:v1 failed: connection "
        "refused. Fix: check that 127.0.0.1:5999 is up"
    )


@pytest.mark.parametrize(
    ("tags", "ordered"),
    [
        (["1", "2", "10", "latest", "abc1234"], ["10", "2", "1"]),
        (["v1.2.0", "v1.10.0", "1.9"], ["v1.10.0", "1.9", "v1.2.0"]),
        (["1234567", "3"], ["3"]),  # seven digits: a short git SHA, not a version
        (["latest", "stable"], []),
    ],
)
def test_version_like_tags_highest_first(tags, ordered):
    assert version_tags(tags) == ordered


def test_the_previous_image_is_this_runs_tag_then_latest_then_the_highest_version():
    stub = StubRegistry()
    with stub.serve() as proxy:
        repo = parse_repository(f"{proxy.host}/demo/wine")
        api = Session([Endpoint(proxy.url)])
        assert previous_tag(api, repo, ["4", "abc1234"]) == ""
        for tag in ("1", "3", "2", "0123456"):
            stub.put("demo/wine", tag, manifest_body([1]))
        assert previous_tag(api, repo, ["4", "abc1234"]) == "3"
        stub.put("demo/wine", "latest", manifest_body([2]))
        assert previous_tag(api, repo, ["4", "abc1234"]) == "latest"
        assert previous_tag(api, repo, ["2", "abc1234"]) == "2"
