"""Image references: validated before anything is built."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import SettingsError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])"
_REPOSITORY = re.compile(rf"^(?:(?P<host>{_HOST}(?::[0-9]+)?)/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DOCKER_HUB = "docker.io"
MAX_NAME = 255  # the distribution spec's limit for registry + path


@dataclass(frozen=True)
class Repository:
    registry: str  # host[:port]; docker.io for Docker Hub
    path: str  # e.g. library/nginx, me/model

    @property
    def name(self) -> str:
        """The name to push under, as docker spells it."""
        return f"{self.registry}/{self.path}"

    def ref(self, tag: str) -> str:
        return f"{self.name}:{tag}"


def parse_repository(text: str, source: str = "images") -> Repository:
    """`ghcr.io/org/model`, `127.0.0.1:5000/demo/wine`, `me/model` (Docker Hub)."""
    tail = text.rsplit("/", 1)[-1]
    if "@" in text or ":" in tail:
        repo = text.split("@")[0]
        if ":" in repo.rsplit("/", 1)[-1]:
            repo = repo.rsplit(":", 1)[0]
        raise SettingsError(
            f"{source} entry {text!r} carries a tag or digest",
            f"list the repository only ({repo}) and put tags in the tags input",
        )
    match = _REPOSITORY.match(text)
    if not match:
        raise SettingsError(
            f"{source} entry {text!r} is not a valid image repository",
            "use lowercase [registry[:port]/]path, e.g. ghcr.io/my-org/model or 127.0.0.1:5000/demo/wine",
        )
    host, path = match.group("host"), match.group("path")
    if host and not ("." in host or ":" in host or host == "localhost"):
        host, path = None, f"{host}/{path}"  # `me/model`: the first part is a Docker Hub namespace
    if not host or host in ("index.docker.io", "registry-1.docker.io"):
        host = DOCKER_HUB
        path = path if "/" in path else f"library/{path}"
    check_port(text, host, source)
    if len(f"{host}/{path}") > MAX_NAME:
        raise SettingsError(
            f"{source} entry {text!r} is longer than {MAX_NAME} characters", "use a shorter repository path"
        )
    return Repository(registry=host.lower(), path=path)


def check_port(text: str, host: str, source: str) -> None:
    port = host.rsplit(":", 1)[1] if ":" in host and not host.endswith("]") else ""
    if port and not 0 < int(port) < 65536:
        raise SettingsError(f"{source} entry {text!r} has port {port}", "use a port between 1 and 65535")


def parse_repositories(images: Iterable[str]) -> list[Repository]:
    """Every `images` entry, each repository once."""
    repos: list[Repository] = []
    for text in images:
        repo = parse_repository(text)
        if repo in repos:
            raise SettingsError(f"images names {repo.name} twice", "list each repository once")
        repos.append(repo)
    return repos


def tag_from(text: str) -> str:
    """A valid tag made from a free-form value (a model version like `2024-05-01+rc1`)."""
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).lstrip(".-")[:128]
    return check_tag(tag or "latest")


def check_tag(tag: str) -> str:
    if not _TAG.match(tag):
        raise SettingsError(
            f"tag {tag!r} is not a valid image tag",
            "use letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-')",
        )
    return tag


@dataclass(frozen=True)
class TagPlan:
    """Where each tag goes: a name (`v1`) to every images entry; a full reference (`ghcr.io/org/model:v1`, as
    docker/metadata-action's tags output writes them) to its own repository, which need not be in images."""

    images: tuple[Repository, ...]
    names: tuple[str, ...]
    references: tuple[tuple[Repository, str], ...]

    @property
    def repositories(self) -> list[Repository]:
        return list(dict.fromkeys([*self.images, *(repo for repo, _ in self.references)]))

    def targets(self, default: list[str]) -> dict[Repository, list[str]]:
        """Each repository's tags; `default` (the model version, the commit) when no tag was given at all."""
        names = list(self.names) if self.names or self.references else default
        tags = {repo: list(names) for repo in self.images}
        for repo, tag in self.references:
            tags.setdefault(repo, []).append(tag)
        return {repo: list(dict.fromkeys(listed)) for repo, listed in tags.items()}


def parse_reference(text: str) -> tuple[Repository, str]:
    """`ghcr.io/org/model:v1` -> (ghcr.io/org/model, v1)."""
    if "@" in text:
        raise SettingsError(
            f"tags entry {text!r} carries a digest",
            "give a tag name (v1) or a reference with a tag (ghcr.io/org/model:v1)",
        )
    repo, sep, tag = text.rpartition(":")
    if not sep or "/" in tag:  # `host:5000/model`: that colon is the port's
        raise SettingsError(
            f"tags entry {text!r} is a repository without a tag",
            f"add the tag ({text}:v1), or list the repository in images",
        )
    if ":" in repo.rsplit("/", 1)[-1]:
        raise SettingsError(
            f"tags entry {text!r} has two tags", "give one reference per tag, e.g. ghcr.io/org/model:v1"
        )
    return parse_repository(repo, "tags"), check_tag(tag)


def plan_tags(images: Iterable[str], tags: Iterable[str]) -> TagPlan:
    """Every images entry and tags entry checked; an images entry left without a tag is an error."""
    repos = parse_repositories(images)
    names: list[str] = []
    references: list[tuple[Repository, str]] = []
    for text in tags:
        if "/" in text or ":" in text:
            references.append(parse_reference(text))
        else:
            names.append(check_tag(text))
    plan = TagPlan(tuple(repos), tuple(names), tuple(references))
    if references and not names:
        named = {repo for repo, _ in references}
        for repo in repos:
            if repo not in named:
                raise SettingsError(
                    f"images entry {repo.name} gets no tag: tags only has full references to other repositories",
                    f"add a tag name to tags (it goes to every images entry), or {repo.name}:<tag>",
                )
    return plan


@dataclass(frozen=True)
class Pushed:
    """One tag of one repository that the registry serves, with the digest it answers."""

    repository: Repository
    tag: str
    digest: str

    @property
    def ref(self) -> str:
        return self.repository.ref(self.tag)
