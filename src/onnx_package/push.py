"""Push every tag to every repository, and confirm each digest on the registry itself."""

from __future__ import annotations

import urllib.error
from dataclasses import dataclass

import docker
from docker import auth as docker_auth

from .errors import PushError
from .refs import Repository
from .registry import Credentials, Endpoint, api_host, head_manifest, is_insecure, ssl_context
from .report import Reporter
from .settings import Settings


@dataclass(frozen=True)
class Pushed:
    repository: Repository
    tag: str
    digest: str

    @property
    def ref(self) -> str:
        return self.repository.ref(self.tag)


def docker_credentials(registry: str) -> Credentials | None:
    """What `docker login` stored for the registry (config.json auths, credsStore or credHelpers)."""
    entry = docker_auth.load_config().resolve_authconfig(registry) or {}
    username = entry.get("username") or entry.get("Username") or ""
    password = entry.get("password") or entry.get("Password") or ""
    token = entry.get("IdentityToken") or entry.get("identitytoken") or ""
    return Credentials(username, password, token) if username or token else None


def endpoints(client: docker.DockerClient, settings: Settings, registry: str) -> list[Endpoint]:
    """HTTPS first; plain HTTP too where the engine treats the registry as insecure."""
    config = client.info().get("RegistryConfig") or {}
    insecure_names = {name for name, index in (config.get("IndexConfigs") or {}).items() if not index.get("Secure")}

    host = api_host(registry)
    found = [Endpoint(f"https://{host}", ssl_context(registry, settings.registry_ca))]
    if is_insecure(registry, config.get("InsecureRegistryCIDRs") or [], insecure_names):
        found.append(Endpoint(f"http://{host}"))
    return found


def push_tag(client: docker.DockerClient, repo: Repository, tag: str) -> str:
    """Push one tag; the digest comes from the push stream's aux record."""
    digest = ""
    try:
        for chunk in client.api.push(repo.name, tag=tag, stream=True, decode=True):
            if "error" in chunk or "errorDetail" in chunk:
                message = chunk.get("errorDetail", {}).get("message") or chunk.get("error")
                raise PushError(f"pushing {repo.ref(tag)} failed: {message}", push_fix(str(message), repo))
            digest = chunk.get("aux", {}).get("Digest", digest)
    except docker.errors.APIError as err:
        raise PushError(f"pushing {repo.ref(tag)} failed: {err.explanation or err}",
                        push_fix(str(err), repo)) from err
    if not digest:
        raise PushError(f"pushing {repo.ref(tag)} reported no digest", "check the registry's logs")
    return digest


def push_fix(message: str, repo: Repository) -> str:
    lowered = message.lower()
    if any(word in lowered for word in ("unauthorized", "authentication required", "denied", "401", "403")):
        return (f"log in to {repo.registry} (docker/login-action, or registry-auth) with an account "
                f"that may push to {repo.path}")
    if any(word in lowered for word in ("connection refused", "no such host", "timeout", "dial tcp")):
        return f"check that {repo.registry} is up and reachable from the runner"
    return f"check the registry {repo.registry} and the image reference"


def confirm_digest(client: docker.DockerClient, settings: Settings, pushed: Pushed) -> None:
    repo = pushed.repository
    credentials = docker_credentials(repo.registry)
    served, last_error = "", None
    for endpoint in endpoints(client, settings, repo.registry):
        try:
            served = head_manifest(endpoint, repo, pushed.tag, credentials)
            break
        except (urllib.error.URLError, OSError) as err:
            last_error = err
    else:
        raise PushError(f"cannot ask {repo.registry} for {pushed.ref}: {last_error}",
                        f"check that {repo.registry} is reachable and that registry-ca trusts its certificate")
    if served != pushed.digest:
        raise PushError(f"{repo.registry} serves {served or 'nothing'} for {pushed.ref}, "
                        f"but the push reported {pushed.digest}",
                        "another push may have raced this one; rerun, and deploy by digest")


def push_all(client: docker.DockerClient, settings: Settings, repos: list[Repository], tags: list[str],
             reporter: Reporter) -> list[Pushed]:
    """Every registry is tried; the step fails afterwards if any one failed."""
    pushed: list[Pushed] = []
    failures: list[PushError] = []
    for repo in repos:
        try:
            for tag in tags:
                done = Pushed(repo, tag, push_tag(client, repo, tag))
                confirm_digest(client, settings, done)
                reporter.info(f"    {done.ref} -> {done.digest}")
                pushed.append(done)
        except PushError as err:
            reporter.info(f"    {repo.name}: FAILED: {err}")
            failures.append(err)
    if failures:
        ok = sorted({p.repository.name for p in pushed})
        raise PushError(f"{len(failures)} of {len(repos)} repositories failed; first: {failures[0].cause}"
                        + (f" (pushed: {', '.join(ok)})" if ok else ""), failures[0].fix)
    return pushed
