"""Push every tag to every repository, confirm each digest on the registry itself, report per registry
(the table: registry/report.py; the push-rights check before the build: rights.py; the build cache: cache.py).

A registry's failure does not stop the others; the step fails afterwards if any failed. Pushes are
retried (exponential backoff with jitter) when the engine reports a 5xx, 429 or a dropped connection.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import docker

from .. import retry
from ..errors import PushError
from ..image.engine import stream_error
from ..report import Reporter
from ..settings import Settings
from .auth import RegistryAuth
from .distribution import OCI_MANIFEST, Manifest, RegistryError, Session, annotated, digest_of, endpoints
from .refs import Pushed, Repository
from .report import RepositoryReport, human_bytes, report_lines

# What the engine says when a push may succeed if tried again, and when it never will.
RETRYABLE = re.compile(
    r"\b(?:status:?|http) (?:5\d\d|429)\b|toomanyrequests|too many requests"
    r"|connection reset|broken pipe|\beof\b|i/o timeout|handshake timeout|server closed"
    r"|request canceled|closed network connection|service unavailable|bad gateway",
    re.IGNORECASE,
)
FINAL = re.compile(
    r"unauthorized|authentication required|denied|forbidden|\b40[134]\b|not found|name unknown"
    r"|no basic auth credentials|x509|certificate",
    re.IGNORECASE,
)


@dataclass
class PushStream:
    """Reads the engine's push stream: the digest, and which layers were really uploaded."""

    ref: str
    reporter: Reporter
    digest: str = ""
    uploaded: set[str] = field(default_factory=set)  # short layer ids (the first 12 hex of the diff id)
    retrying: set[str] = field(default_factory=set)

    def read(self, chunks: Iterable[dict[str, Any]]) -> None:
        for chunk in chunks:
            if message := stream_error(chunk):
                raise stream_failure(message, self.ref)
            self.note(str(chunk.get("id", "")), str(chunk.get("status", "")))
            self.digest = (chunk.get("aux") or {}).get("Digest", self.digest)

    def note(self, layer: str, status: str) -> None:
        if status == "Pushed":
            self.uploaded.add(layer)
        if not status.startswith("Retrying"):
            self.retrying.discard(layer)
        elif layer not in self.retrying:  # the engine counts down each second: say it once
            self.retrying.add(layer)
            self.reporter.info(f"    {self.ref}: the engine retries layer {layer} ({status})")


def stream_failure(message: str, ref: str) -> Exception:
    """A Retry for transient failures, else a PushError with the fix."""
    if RETRYABLE.search(message) and not FINAL.search(message):
        return retry.Retry(f"pushing {ref}: {message}")
    return PushError(f"pushing {ref} failed: {message}", push_fix(message, ref))


def push_fix(message: str, ref: str) -> str:
    registry = ref.split("/")[0]
    lowered = message.lower()
    if any(
        word in lowered for word in ("unauthorized", "authentication required", "denied", "forbidden", "no basic auth")
    ):
        return (
            f"log in to {registry} with an account that may push there: docker/login-action, or a "
            f"registry-auth entry (- registry: {registry} / username: ... / password: ...)"
        )
    if "x509" in lowered or "certificate" in lowered:
        return (
            f"make the engine trust {registry}'s CA: sudo mkdir -p /etc/docker/certs.d/{registry} && "
            f"sudo cp <ca.pem> /etc/docker/certs.d/{registry}/ca.crt (and give it as registry-ca)"
        )
    if any(word in lowered for word in ("connection refused", "no such host", "dial tcp", "timeout")):
        return f"check that {registry} is up and reachable from the runner (host, port, firewall)"
    if any(word in lowered for word in ("toomanyrequests", "too many requests", " 429")):
        return (
            f"{registry} rate-limits this runner: push with an account (registry-auth or docker/login-action) "
            "to get a higher limit, or rerun later"
        )
    if RETRYABLE.search(message):
        return f"{registry} kept failing; check its status page or logs, then rerun"
    return f"check the registry {registry} and the image reference {ref}"


def push_tag(
    client: docker.DockerClient,
    repo: Repository,
    tag: str,
    auth_config: dict[str, str] | None,
    reporter: Reporter,
    policy: retry.Policy = retry.PUSH,
) -> PushStream:
    """Push one tag; retried on transient failures. The digest comes from the stream's aux record."""
    ref = repo.ref(tag)
    stream = PushStream(ref, reporter)

    def attempt() -> PushStream:
        stream.digest = ""
        try:
            stream.read(client.api.push(repo.name, tag=tag, stream=True, decode=True, auth_config=auth_config))
        except docker.errors.APIError as err:
            raise stream_failure(str(err.explanation or err), ref) from err
        return stream

    try:
        retry.call(attempt, policy, on_retry=retry.progress(reporter.info, policy))
    except retry.GaveUp as err:
        raise PushError(str(err), push_fix(err.reason, ref)) from err
    if not stream.digest:
        raise PushError(f"pushing {ref} reported no digest", f"check the logs of {repo.registry}")
    return stream


def uploaded_bytes(manifest: Manifest, diff_ids: list[str], uploaded: set[str]) -> tuple[int, int]:
    """(bytes, layers) really sent: uploaded layers (compressed), plus config and manifest.

    The stream names layers by their diff id; the manifest lists their compressed sizes in the same order.
    The config counts when any layer was sent (the engine uploads it only when the registry lacks it).
    """
    sizes = manifest.layer_sizes()
    if len(sizes) != len(diff_ids):
        return len(manifest.body), 0
    sent = [size for diff_id, size in zip(diff_ids, sizes, strict=True) if diff_id.split(":")[-1][:12] in uploaded]
    layer_bytes = sum(sent)
    return layer_bytes + (manifest.config_size() if sent else 0) + len(manifest.body), len(sent)


def confirm(session: Session, pushed: Pushed) -> Manifest:
    """The registry must serve, for the tag, exactly the digest the push reported."""
    repo = pushed.repository
    try:
        manifest = session.manifest(repo, pushed.tag)
    except RegistryError as err:
        raise PushError(
            f"cannot ask {repo.registry} for {pushed.ref}: {err}",
            f"check that {repo.registry} is reachable, its credentials may read {repo.path}, and "
            "registry-ca trusts its certificate",
        ) from None
    if not manifest or manifest.digest != pushed.digest:
        raise PushError(
            f"{repo.registry} serves {manifest.digest if manifest else 'nothing'} for {pushed.ref}, "
            f"but the push reported {pushed.digest}",
            "another push may have raced this one; rerun, and deploy by digest",
        )
    return manifest


@dataclass
class Pusher:
    """Pushes one local image to repositories; one API session per registry."""

    client: docker.DockerClient
    settings: Settings
    auth: RegistryAuth
    reporter: Reporter
    policy: retry.Policy = retry.PUSH
    annotations: dict[str, str] = field(default_factory=dict)  # for the manifest; none: the engine's manifest
    sessions: dict[str, Session] = field(default_factory=dict)

    def session(self, registry: str) -> Session:
        if registry not in self.sessions:
            config = self.client.info().get("RegistryConfig") or {}
            self.sessions[registry] = Session(
                endpoints(registry, config, self.settings.registry_ca),
                self.auth.credentials(registry),
                on_retry=retry.progress(self.reporter.info),
            )
        return self.sessions[registry]

    def push(self, repo: Repository, tags: list[str]) -> RepositoryReport:
        report = RepositoryReport(repo)
        start = time.monotonic()
        try:
            self.push_tags(repo, tags, report)
        except PushError as err:
            report.error = err
        report.credentials = self.auth.source(repo.registry)
        report.seconds = time.monotonic() - start
        return report

    def held(self, repo: Repository, tag: str, image_id: str) -> Manifest | None:
        """The tag's manifest when it is already this very image (its config digest is our image id) with the
        annotations asked for."""
        try:
            manifest = self.session(repo.registry).manifest(repo, tag)
        except RegistryError:
            return None  # the push says what is wrong
        content = manifest.content if manifest else {}
        config = content.get("config")
        same = isinstance(config, dict) and config.get("digest") == image_id
        return manifest if same and content.get("annotations", {}) == self.annotations else None

    def annotate(self, pushed: Pushed, manifest: Manifest) -> tuple[Pushed, int]:
        """Store the pushed manifest again, in OCI form with the annotations; the new ref and the bytes sent."""
        repo, body = pushed.repository, annotated(manifest, self.annotations)
        try:
            self.session(repo.registry).put_manifest(repo, pushed.tag, body, OCI_MANIFEST)
        except RegistryError as err:
            raise PushError(
                f"{repo.registry} did not take the annotated manifest of {pushed.ref}: {err}",
                f"check that {repo.registry} accepts OCI image manifests, or remove annotations",
            ) from None
        done = Pushed(repo, pushed.tag, digest_of(body))
        confirm(self.session(repo.registry), done)
        return done, len(body)

    def push_tags(self, repo: Repository, tags: list[str], report: RepositoryReport) -> None:
        auth_config = self.auth.auth_config(repo.registry)
        image = self.client.api.inspect_image(repo.ref(tags[0]))
        diff_ids = list(image["RootFS"]["Layers"])
        for tag in tags:
            if held := self.held(repo, tag, str(image["Id"])):
                report.pushed.append(Pushed(repo, tag, held.digest))
                report.already_there += 1
                self.reporter.info(f"    {repo.ref(tag)} -> {held.digest} (already there: nothing sent)")
                continue
            stream = push_tag(self.client, repo, tag, auth_config, self.reporter, self.policy)
            done = Pushed(repo, tag, stream.digest)
            manifest = confirm(self.session(repo.registry), done)
            sent, layers = uploaded_bytes(manifest, diff_ids, stream.uploaded)
            if self.annotations:
                done, body_bytes = self.annotate(done, manifest)
                sent += body_bytes
            report.bytes_pushed += sent
            report.pushed.append(done)
            self.reporter.info(
                f"    {done.ref} -> {done.digest} ({layers} of {len(diff_ids)} layers, {human_bytes(sent)} sent)"
            )


def push_all(
    client: docker.DockerClient,
    settings: Settings,
    targets: Mapping[Repository, list[str]],
    reporter: Reporter,
    auth: RegistryAuth | None = None,
    annotations: Mapping[str, str] | None = None,
    policy: retry.Policy = retry.PUSH,
) -> list[Pushed]:
    """Every repository is tried with its tags; a report follows; PushError afterwards if any failed."""
    pusher = Pusher(client, settings, auth or RegistryAuth(settings), reporter, policy, dict(annotations or {}))
    reports = [pusher.push(repo, tags) for repo, tags in targets.items()]
    for line in report_lines(reports):
        reporter.info(line)
    failed = [report for report in reports if report.error]
    if failed:
        raise partial_failure(failed, [report for report in reports if not report.error])
    return [pushed for report in reports for pushed in report.pushed]


def partial_failure(failed: list[RepositoryReport], held: list[RepositoryReport]) -> PushError:
    """One line: which failed, which hold the image, and the first failure's cause and fix."""
    first = failed[0].error or PushError("unknown failure", "rerun")
    names = ", ".join(report.repository.name for report in failed)
    holding = ", ".join(report.repository.name for report in held)
    verb = "holds" if len(held) == 1 else "hold"
    return PushError(
        f"{len(failed)} of {len(failed) + len(held)} repositories failed ({names})"
        + (f"; {holding} {verb} the image" if held else "")
        + f"; first: {first.cause}",
        first.fix,
        pushed=[pushed for report in held for pushed in report.pushed],
    )
