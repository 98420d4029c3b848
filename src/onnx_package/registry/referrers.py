"""Attach a document (the ML-BOM) to an image in a registry, as an OCI artifact whose `subject` is the image.

Registries with the referrers API (OCI distribution 1.1: they answer the manifest PUT with `OCI-Subject`)
list it under `/v2/<name>/referrers/<digest>`; for the others it is also tagged `sha256-<hex>.sbom`, the
scheme cosign and oras use, so it can be found from the digest everywhere. Nothing is added to an index.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import PushError
from ..report import Reporter
from .distribution import OCI_MANIFEST, Manifest, RegistryError, Session, digest_of
from .refs import Repository

if TYPE_CHECKING:
    from .refs import Pushed

EMPTY_CONFIG = b"{}"  # the OCI empty descriptor's content: an artifact needs no config
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"


@dataclass(frozen=True)
class Attached:
    repository: Repository
    digest: str  # the artifact manifest's
    tag: str  # the fallback tag, "" when the registry keeps referrers itself

    @property
    def ref(self) -> str:
        return self.repository.ref(self.tag) if self.tag else f"{self.repository.name}@{self.digest}"


def fallback_tag(subject_digest: str, suffix: str) -> str:
    return f"{subject_digest.replace(':', '-')}.{suffix}"


def artifact_manifest(
    subject: Manifest, blob_digest: str, size: int, media_type: str, title: str, created: str
) -> bytes:
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": media_type,
        "config": {"mediaType": EMPTY_TYPE, "digest": digest_of(EMPTY_CONFIG), "size": len(EMPTY_CONFIG)},
        "layers": [
            {
                "mediaType": media_type,
                "digest": blob_digest,
                "size": size,
                "annotations": {"org.opencontainers.image.title": title},
            }
        ],
        "subject": {
            "mediaType": subject.content.get("mediaType", OCI_MANIFEST),
            "digest": subject.digest,
            "size": len(subject.body),
        },
        "annotations": {"org.opencontainers.image.created": created},
    }
    return json.dumps(manifest, indent=3).encode()


def attached_before(session: Session, repo: Repository, subject: Manifest, digest: str, tag: str) -> Attached | None:
    """The artifact when the registry already lists it for the subject, or its fallback tag already serves it."""
    if digest in session.referrers(repo, subject.digest):
        return Attached(repo, digest, "")
    tagged = session.manifest(repo, tag)
    return Attached(repo, digest, tag) if tagged and tagged.digest == digest else None


def attach(
    session: Session,
    repo: Repository,
    subject: Manifest,
    document: bytes,
    media_type: str,
    title: str,
    created: str,
    suffix: str,
) -> Attached:
    """Upload the document and its artifact manifest, pointing at `subject` (nothing sent when it is there
    already: the same image gives the same document); RegistryError when refused."""
    body = artifact_manifest(subject, digest_of(document), len(document), media_type, title, created)
    digest, tag = digest_of(body), fallback_tag(subject.digest, suffix)
    if before := attached_before(session, repo, subject, digest, tag):
        return before
    session.upload_blob(repo, EMPTY_CONFIG)
    session.upload_blob(repo, document)
    answer = session.put_manifest(repo, digest, body, OCI_MANIFEST)
    if answer.headers.get("OCI-Subject") == subject.digest:
        return Attached(repo, digest, "")
    session.put_manifest(repo, tag, body, OCI_MANIFEST)
    return Attached(repo, digest, tag)


def attach_everywhere(
    session_for: Callable[[str], Session],
    pushed: list[Pushed],
    document: bytes,
    media_type: str,
    title: str,
    created: str,
    suffix: str,
    reporter: Reporter,
) -> list[Attached]:
    """The document attached to the pushed image in every repository; PushError names those that refused."""
    attached, failed = [], []
    for repo, digest in {p.repository: p.digest for p in pushed}.items():
        session = session_for(repo.registry)
        try:
            subject = session.manifest(repo, digest)
            if subject is None:
                raise RegistryError(f"{repo.name} no longer serves {digest}")
            done = attach(session, repo, subject, document, media_type, title, created, suffix)
        except RegistryError as err:
            failed.append(f"{repo.name}: {err}")
            continue
        attached.append(done)
        how = f"tagged {done.tag} (no referrers API)" if done.tag else "listed by the referrers API"
        reporter.info(f"    {title} -> {repo.name}@{done.digest}, {how}")
    if failed:
        raise PushError(
            f"the image was pushed, but {title} could not be attached in {len(failed)} of "
            f"{len(failed) + len(attached)} repositories ({'; '.join(failed)})",
            "check that these registries accept OCI artifacts (a manifest with a subject), then rerun: "
            "the image is already there and is not pushed again",
        )
    return attached
