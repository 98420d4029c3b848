"""Before the build: every repository accepts the credentials the push will use, and lets them push."""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Callable

import docker

from ..errors import PushError
from ..report import Reporter
from ..settings import Settings
from .auth import RegistryAuth
from .distribution import Answer, RegistryError, Session
from .push import Pusher, push_fix
from .refs import Repository


def check_credentials(
    client: docker.DockerClient, settings: Settings, repos: list[Repository], auth: RegistryAuth, reporter: Reporter
) -> None:
    """Before the build: every repository accepts the credentials the push will use, and lets them push.

    A login is not enough: Docker Hub, GHCR and ACR answer a token request for push scope with a token
    that may only pull (a job without `packages: write`, an AcrPull identity, a read-only token). So
    each repository is also asked to open a blob upload, which only push rights may do. A refusal stops
    the run while nothing is pushed anywhere; a registry that does not answer is left to the push, where
    the others still get the image and the report says which failed.
    """
    pusher = Pusher(client, settings, auth, reporter)
    for repo in repos:
        credentials = auth.credentials(repo.registry)
        if credentials:  # anonymous: nothing to check before the push
            who = f"{credentials.username or 'the token'!r} (from {auth.source(repo.registry)})"
            check_repository(pusher.session(repo.registry), repo, who, reporter)


def check_repository(session: Session, repo: Repository, who: str, reporter: Reporter) -> None:
    if status_of(lambda: session.request("GET", "", f"repository:{repo.path}:push,pull")) in (401, 403):
        raise PushError(
            f"{repo.registry} refused the credentials of {who}, so nothing was built or pushed",
            push_fix("unauthorized", repo.ref("")),
        )
    upload = status_of(lambda: upload_probe(session, repo))
    if upload in (401, 403):
        raise PushError(
            f"{repo.registry} does not let {who} push to {repo.path} ({upload} to a blob upload), so "
            "nothing was built or pushed",
            push_rights_fix(repo),
        )
    if upload:
        reporter.info(f"    {repo.name}: push allowed ({who})")


def status_of(call: Callable[[], Answer]) -> int:
    """The registry's answer to `call`; 401/403 also when its token service refused; 0 when nothing answered."""
    try:
        return call().status
    except RegistryError as err:
        return err.status if err.status in (401, 403) else 0


def push_rights_fix(repo: Repository) -> str:
    return (
        f"use credentials that may push to {repo.path} on {repo.registry} (ghcr.io: the job's `permissions: "
        "packages: write`; ACR: the AcrPush role; Docker Hub: an access token with Read & Write), given "
        "with docker/login-action or a registry-auth entry"
    )


def upload_probe(session: Session, repo: Repository) -> Answer:
    """Open a blob upload in `repo` (202 when push is allowed) and cancel it.

    Cancelling needs the delete right on most registries; without it the empty upload is left to the
    registry's own clean-up of stale uploads (distribution: after 7 days)."""
    answer = session.request("POST", f"{repo.path}/blobs/uploads/", f"repository:{repo.path}:push,pull")
    location = urllib.parse.urlsplit(answer.headers.get("Location") or "")
    if answer.status == 202 and location.path.startswith("/v2/"):
        upload = location.path.removeprefix("/v2/") + (f"?{location.query}" if location.query else "")
        with contextlib.suppress(RegistryError):  # an upload left open expires on its own
            session.request("DELETE", upload, f"repository:{repo.path}:push,pull,delete")
    return answer
