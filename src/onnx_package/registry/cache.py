"""The build cache: the previous image of a repository, pulled so that the engine does not push again the layers
the registry already holds."""

from __future__ import annotations

import re

import docker

from .. import retry
from ..errors import PushError
from ..image.engine import pull as engine_pull
from ..report import Reporter
from ..settings import Settings
from .auth import RegistryAuth
from .distribution import RegistryError, Session
from .push import Pusher, push_fix, stream_failure
from .refs import Repository

VERSION_TAG = re.compile(r"^v?(\d{1,6}(?:\.\d{1,6})*)$")  # 3, v2, 1.4.0: a model version


def pull(
    client: docker.DockerClient, repo: Repository, tag: str, auth_config: dict[str, str] | None, reporter: Reporter
) -> None:
    """Pull repo:tag through the engine; retried on transient failures."""
    ref = repo.ref(tag)
    try:
        engine_pull(
            client,
            repo.name,
            tag,
            auth_config,
            retry.API,
            retry.progress(reporter.info),
            lambda m: stream_failure(m, ref),
        )
    except retry.GaveUp as err:
        raise PushError(str(err), push_fix(err.reason, ref)) from err


def version_tags(tags: list[str]) -> list[str]:
    """Tags that look like model versions (3, v2, 1.4.0), highest first. Seven digits or more look like a
    short git SHA, not a version."""
    found = [
        (tuple(int(part) for part in match.group(1).split(".")), tag)
        for tag in tags
        if (match := VERSION_TAG.match(tag))
    ]
    return [tag for _, tag in sorted(found, reverse=True)]


def previous_tag(session: Session, repo: Repository, tags: list[str]) -> str:
    """The tag of the previous image: one of this run's tags or latest if the registry has it, else the
    highest version-like tag it lists (the previous model version); '' when there is none."""
    for tag in dict.fromkeys([*tags, "latest"]):
        if session.manifest(repo, tag):
            return tag
    listed = version_tags(session.tags(repo))
    return listed[0] if listed else ""


def pull_cache(
    client: docker.DockerClient,
    settings: Settings,
    repo: Repository,
    tags: list[str],
    auth: RegistryAuth,
    reporter: Reporter,
) -> list[str]:
    """The previous image of `repo`, pulled so that the engine knows which of its layers the registry
    holds: the layers this build shares with it (same bytes, same diff ids) are then not pushed again.

    Never fails the run: without a previous image every layer is simply pushed.
    """
    try:
        tag = previous_tag(Pusher(client, settings, auth, reporter).session(repo.registry), repo, tags)
        if tag:
            pull(client, repo, tag, auth.auth_config(repo.registry), reporter)
    except (PushError, RegistryError) as err:
        reporter.info(f"    no build cache from {repo.name}: {err}")
        return []
    if not tag:
        reporter.info(
            f"    no build cache: {repo.name} has none of the tags {', '.join(tags)}, latest, nor a version-like tag"
        )
        return []
    reporter.info(f"    build cache: {repo.ref(tag)}")
    return [repo.ref(tag)]
