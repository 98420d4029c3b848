"""The base image, resolved once before anything is built: pinned to a digest, pulled, and asked
which Python and CPU it has, so that the wheels are chosen for it.

A tag is looked up on its registry first, so a self-hosted runner's stale local tag is never used
when the registry answers. The engine's own image under that name is used, with a warning, only
when the registry cannot be reached or has no such image.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, replace
from typing import Any

import docker
import requests
from docker.models.images import Image

from .. import retry
from ..errors import BuildError, PackageError, SettingsError, last_line
from ..multiarch.foreign import Binary, base_python
from ..multiarch.platforms import MACHINES, SUPPORTED, Platform
from ..registry.auth import RegistryAuth
from ..registry.distribution import MANIFEST_TYPES, Credentials, Manifest, RegistryError, Session, endpoints
from ..registry.push import FINAL, RETRYABLE
from ..registry.refs import DOCKER_HUB, Repository, check_tag, parse_repository
from ..report import Reporter
from ..settings import Settings
from .engine import engine_id
from .engine import pull as engine_pull

SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13", "3.14")
PROBE_SECONDS = 60
PROBE = (
    "import json, platform, sys; print(json.dumps({'python': list(sys.version_info[:2]), "
    "'machine': platform.machine(), 'libc': list(platform.libc_ver())}))"
)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
RATE_LIMITED = re.compile(r"\b429\b|toomanyrequests|too many requests", re.IGNORECASE)
# How registry/distribution.py describes a registry that nothing answers for: no such host, a proxy that
# cannot reach it, refused, no route.
UNREACHABLE = re.compile(
    r"gaierror|Tunnel connection failed|ConnectionRefused|Network is unreachable|No route to host"
    r"|timed out|TimeoutError"
)
FORMAT_FIX = "use [registry/]repository[:tag][@sha256:digest], e.g. python:3.12-slim or ghcr.io/org/base:1"
PYTHON_FIX = (
    f"use a glibc image with Python {', '.join(SUPPORTED_PYTHONS)} as python3 (e.g. python:3.12-slim, "
    "or a Debian/Ubuntu image with python3 installed)"
)


@dataclass(frozen=True)
class BaseImage:
    name: str  # as the user gave it, e.g. "python:3.11-slim"
    reference: str  # what to build FROM: repository@digest, or the local image id
    digest: str  # the registry's manifest (or index) digest; "" for a local-only image
    image_id: str  # the engine's id of the base
    python: str  # the base's python3, major.minor
    arch: str  # pip's name of the base's architecture: x86_64, aarch64
    # With several platforms (or one the engine does not run), one base per platform:
    platform: str = ""  # linux/arm64; "" for the engine's own platform resolved as a single image
    layers: tuple[dict[str, Any], ...] = ()  # the platform manifest's layer descriptors, for the registry push
    native: bool = True  # the engine's platform: its python3 runs here
    binary: Binary | None = None  # a foreign base's python3, read from its files
    compiler: str = ""  # whose python3 writes the byte code: "" its own; an image id; RUNNER; NO_BYTECODE

    def labels(self) -> dict[str, str]:
        labels = {"org.opencontainers.image.base.name": parse_base(self.name).full_name}
        if self.digest:
            labels["org.opencontainers.image.base.digest"] = self.digest
        return labels


@dataclass(frozen=True)
class BaseRef:
    """base-image, parsed: a repository with a tag, or pinned by digest."""

    repository: Repository
    tag: str  # "" when pinned by digest alone
    digest: str  # "" unless pinned

    @property
    def full_name(self) -> str:
        """docker.io/library/python:3.11-slim; the digest only when there is no tag."""
        return self.repository.ref(self.tag) if self.tag else self.pinned

    @property
    def pinned(self) -> str:
        return f"{self.repository.name}@{self.digest}"


@dataclass(frozen=True)
class Probe:
    """What the base's python3 says about itself."""

    python: str  # "3.11"
    machine: str  # platform.machine(): x86_64, aarch64
    libc: str  # "glibc"; "" on musl (Alpine)


def resolve_base(
    client: docker.DockerClient,
    settings: Settings,
    auth: RegistryAuth,
    reporter: Reporter,
    policy: retry.Policy = retry.API,
) -> BaseImage:
    """Pin, pull and probe settings.base_image; a PackageError (cause + fix) when it cannot serve."""
    wanted = parse_base(settings.base_image)
    if wanted.digest:
        digest, image = wanted.digest, by_digest(client, wanted, auth, reporter, policy)
    else:
        digest, image = by_tag(client, settings, wanted, auth, reporter, policy)
    probe = probe_python(client, image, settings.base_image)
    reference = f"{wanted.repository.name}@{digest}" if digest else engine_id(image)
    base = BaseImage(
        settings.base_image,
        reference,
        digest,
        engine_id(image),
        probe.python,
        architecture(image, probe, settings.base_image),
    )
    reporter.info(f"    base image {base.name}: {base.reference} (Python {base.python}, {base.arch})")
    return base


def by_digest(
    client: docker.DockerClient, wanted: BaseRef, auth: RegistryAuth, reporter: Reporter, policy: retry.Policy
) -> Image:
    """A pin is taken as is: the engine's image, or pulled by that digest when the engine lacks it."""
    return local_image(client, wanted.pinned) or pull(client, wanted, auth, reporter, policy, wanted.digest)


# ---------------------------------------------------------------- the reference


def parse_base(text: str) -> BaseRef:
    """`python:3.11-slim`, `127.0.0.1:5000/base/bookworm:1`, `name[:tag]@sha256:…`; no tag means latest."""
    name, _, digest = text.strip().partition("@")
    head, _, last = name.rpartition("/")
    path, _, tag = last.partition(":")
    if digest and not DIGEST.match(digest):
        raise SettingsError(f"base-image {text!r} has the digest {digest!r}, not sha256: and 64 hex digits", FORMAT_FIX)
    try:
        repository = parse_repository(f"{head}/{path}" if head else path)
        tag = check_tag(tag) if tag else ("" if digest else "latest")
    except SettingsError:
        raise SettingsError(f"base-image {text!r} is not a valid image reference", FORMAT_FIX) from None
    return BaseRef(repository, tag, digest)


# ---------------------------------------------------------------- a tag: the registry's digest first


def by_tag(
    client: docker.DockerClient,
    settings: Settings,
    wanted: BaseRef,
    auth: RegistryAuth,
    reporter: Reporter,
    policy: retry.Policy,
) -> tuple[str, Image]:
    session = base_session(client, settings, wanted.repository.registry, auth, reporter, policy)
    try:
        digest = registry_digest(session, wanted)
    except RegistryError as err:
        return local_fallback(client, wanted, err, session.credentials is None, reporter)
    return digest, pull(client, wanted, auth, reporter, policy, digest)


def base_session(
    client: docker.DockerClient,
    settings: Settings,
    registry: str,
    auth: RegistryAuth,
    reporter: Reporter,
    policy: retry.Policy,
) -> Session:
    return Session(
        endpoints(registry, client.info().get("RegistryConfig") or {}, settings.registry_ca),
        credentials(auth, registry),
        policy,
        on_retry=retry.progress(reporter.info),
    )


def credentials(auth: RegistryAuth, registry: str) -> Credentials | None:
    try:
        return auth.credentials(registry)
    except PackageError as err:  # a PushError from the lookup: the wrong title for this stage
        raise BuildError(f"no credentials for the base image's registry: {err.cause}", err.fix) from None


def registry_digest(session: Session, wanted: BaseRef) -> str:
    """The tag's digest from a HEAD (Docker Hub does not count those as pulls); a GET when it names none."""
    repo = wanted.repository
    answer = session.request(
        "HEAD", f"{repo.path}/manifests/{wanted.tag}", f"repository:{repo.path}:pull", {"Accept": MANIFEST_TYPES}
    )
    if answer.status == 200 and DIGEST.match(answer.headers.get("Docker-Content-Digest", "")):
        return str(answer.headers["Docker-Content-Digest"])
    manifest = session.manifest(repo, wanted.tag)  # the registry's own error, or its content's digest
    if manifest is None:
        raise RegistryError(f"{repo.registry} has no {wanted.full_name}", 404)
    return manifest.digest


def may_use_local(err: RegistryError, anonymous: bool) -> bool:
    """Nothing answered, or the registry has no such image (Docker Hub says 401 to anonymous pulls of it)."""
    offline = err.status == 0 and "answered" not in str(err) and bool(UNREACHABLE.search(str(err)))
    return offline or err.status == 404 or (anonymous and err.status in (401, 403))


def local_fallback(
    client: docker.DockerClient, wanted: BaseRef, err: RegistryError, anonymous: bool, reporter: Reporter
) -> tuple[str, Image]:
    """The engine's image under the name, when the registry cannot say which digest the tag is."""
    if RATE_LIMITED.search(str(err)):
        raise rate_limit_error(wanted, str(err))
    image = local_image(client, wanted.full_name)
    if image is None or not may_use_local(err, anonymous):
        raise registry_error(wanted, err)
    digest = local_digest(image, wanted.repository)
    reporter.warn(
        f"base-image {wanted.full_name}: {err}; using the engine's local image {image.short_id}"
        f"{f' ({digest})' if digest else ', which no registry pins'}"
    )
    return digest, image


def local_image(client: docker.DockerClient, ref: str) -> Image | None:
    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def local_digest(image: Image, repository: Repository) -> str:
    """The digest the engine recorded when it pulled or pushed the image to/from `repository`; '' if none."""
    for repo_digest in image.attrs.get("RepoDigests") or []:
        name, _, digest = str(repo_digest).partition("@")
        try:
            if parse_repository(name) == repository:
                return digest
        except SettingsError:
            continue
    return ""


def registry_error(wanted: BaseRef, err: RegistryError) -> BuildError:
    registry = wanted.repository.registry
    cause = f"cannot resolve base-image {wanted.full_name} on {registry}: {err}"
    if err.status in (401, 403):
        return BuildError(
            cause,
            f"give credentials for {registry} (docker/login-action, or a registry-auth "
            f"entry), and check the name {wanted.full_name}",
        )
    if err.status == 404:
        return BuildError(cause, f"check the name and tag, or push the base image to {registry}")
    if may_use_local(err, anonymous=False):
        return BuildError(
            cause,
            f"check that {registry} is reachable from the runner, or pull or build "
            f"{wanted.full_name} on the runner first",
        )
    return BuildError(cause, f"check {registry}'s status, and registry-ca if it uses a private CA")


def rate_limit_error(wanted: BaseRef, detail: str) -> BuildError:
    registry = wanted.repository.registry
    if registry == DOCKER_HUB:
        return BuildError(
            f"Docker Hub's pull rate limit stopped the pull of base-image {wanted.full_name} ({detail})",
            "log in to Docker Hub (docker/login-action, or a registry-auth entry "
            "without registry) for a higher limit, or take base-image from a mirror or another "
            "registry (e.g. mirror.gcr.io/library/python:3.12-slim)",
        )
    return BuildError(
        f"{registry}'s rate limit stopped the pull of base-image {wanted.full_name} ({detail})",
        f"log in to {registry} (docker/login-action or registry-auth) for a higher limit, rerun "
        "later, or take base-image from another registry",
    )


# ---------------------------------------------------------------- the engine's pull, by digest


def pull(
    client: docker.DockerClient,
    wanted: BaseRef,
    auth: RegistryAuth,
    reporter: Reporter,
    policy: retry.Policy,
    digest: str,
) -> Image:
    """Pull repository@digest through the engine; retried on transient failures (429 included)."""
    repository = wanted.repository
    found = credentials(auth, repository.registry)
    auth_config = found.auth_config() if found else None

    progress = retry.progress(reporter.info, policy)
    try:
        engine_pull(client, repository.name, digest, auth_config, policy, progress, lambda m: pull_failure(wanted, m))
    except retry.GaveUp as err:
        raise pull_failure(wanted, str(err), final=True) from err
    return client.images.get(f"{repository.name}@{digest}")


def pull_failure(wanted: BaseRef, message: str, final: bool = False) -> Exception:
    """A Retry for a transient failure; else the error, the rate limit with its own cause and fix."""
    message = message.strip()
    if not final and RETRYABLE.search(message) and not FINAL.search(message):
        return retry.Retry(f"pulling {wanted.full_name}: {message}")
    if RATE_LIMITED.search(message):
        return rate_limit_error(wanted, message)
    return BuildError(
        f"the engine cannot pull base-image {wanted.full_name} ({message})",
        f"check that the engine can reach {wanted.repository.registry} and may pull "
        f"{wanted.repository.path} (docker/login-action or registry-auth)",
    )


# ---------------------------------------------------------------- its Python and CPU


def probe_python(client: docker.DockerClient, image: Image, name: str) -> Probe:
    """Run python3 in a short-lived, network-less container of the base; removed afterwards."""
    container = client.containers.create(
        engine_id(image),
        entrypoint=["python3", "-c", PROBE],
        command=[],
        user="0",
        network_disabled=True,
        labels={"io.github.onnx-package.probe": "1"},
    )
    try:
        container.start()
        status = container.wait(timeout=PROBE_SECONDS)
        output = container.logs(stdout=True, stderr=True).decode(errors="replace")
    except docker.errors.APIError as err:
        raise probe_error(name, str(err.explanation or err)) from None
    except requests.exceptions.RequestException:
        raise BuildError(
            f"python3 in base-image {name} did not answer within {PROBE_SECONDS} s",
            "check that base-image runs on this engine's platform",
        ) from None
    finally:
        container.remove(force=True)
    if status.get("StatusCode") != 0:
        raise probe_error(name, output)
    return check_probe(parse_probe(output, name), name)


def probe_error(name: str, message: str) -> BuildError:
    last = last_line(message)
    if "executable file not found" in message or "no such file or directory" in message:
        return BuildError(f"base-image {name} has no python3", PYTHON_FIX)
    return BuildError(f"python3 in base-image {name} failed: {last}", PYTHON_FIX)


def parse_probe(output: str, name: str) -> Probe:
    """The probe's JSON line (the last line: a base may print a banner first)."""
    lines = output.strip().splitlines()
    try:
        found = json.loads(lines[-1])
        return Probe(".".join(str(part) for part in found["python"]), str(found["machine"]), str(found["libc"][0]))
    except (IndexError, KeyError, TypeError, ValueError):
        raise BuildError(
            f"python3 in base-image {name} did not say its version (it printed {output[-200:]!r})", PYTHON_FIX
        ) from None


def check_probe(probe: Probe, name: str) -> Probe:
    if probe.python not in SUPPORTED_PYTHONS:
        raise BuildError(f"base-image {name} has Python {probe.python}; supported: {supported()}", PYTHON_FIX)
    if probe.libc != "glibc":
        raise BuildError(f"base-image {name} has no glibc (musl, as on Alpine?); the wheels need glibc", PYTHON_FIX)
    return probe


def supported() -> str:
    return ", ".join(SUPPORTED_PYTHONS)


def architecture(image: Image, probe: Probe, name: str) -> str:
    """pip's name for the image's Architecture; it must be the CPU its python3 runs on."""
    arch = str(image.attrs.get("Architecture") or probe.machine)
    arch = MACHINES.get(arch, arch)  # the engine's name -> pip's
    if probe.machine and probe.machine != arch:
        raise BuildError(
            f"base-image {name} is built for {arch} but its python3 runs on {probe.machine}",
            "use a base image built for one platform, this engine's",
        )
    return arch


# ---------------------------------------------------------------- one base per platform

RUNNER = "runner"  # the byte code of a foreign platform written by the runner's own Python
NO_BYTECODE = "none"


def resolve_platforms(
    client: docker.DockerClient,
    settings: Settings,
    auth: RegistryAuth,
    reporter: Reporter,
    platforms: tuple[Platform, ...],
    native: Platform,
    policy: retry.Policy = retry.API,
) -> list[BaseImage]:
    """One base per platform, each pulled by its own manifest's digest; the engine's platform alone as ever.

    Every platform asked for must be in the base's index, or the run stops here, before anything is built."""
    if platforms == (native,):
        return [resolve_base(client, settings, auth, reporter, policy)]
    wanted = parse_base(settings.base_image)
    session = base_session(client, settings, wanted.repository.registry, auth, reporter, policy)
    top, manifests = platform_manifests(session, wanted, platforms)
    missing = [platform.name for platform in platforms if platform.name not in manifests]
    if missing:
        raise BuildError(
            f"base-image {wanted.full_name} has no {', '.join(missing)} image (it has "
            f"{', '.join(manifests) or 'no platform this tool builds'})",
            f"use a base image published for {', '.join(p.name for p in platforms)} (e.g. "
            "python:3.12-slim), or remove " + ", ".join(missing) + " from platforms",
        )
    bases = [
        platform_base(
            client, wanted, auth, reporter, policy, platform, top.digest, manifests[platform.name], platform == native
        )
        for platform in platforms
    ]
    return [with_compiler(base, bases, reporter) for base in bases]


def platform_manifests(
    session: Session, wanted: BaseRef, platforms: tuple[Platform, ...]
) -> tuple[Manifest, dict[str, Manifest]]:
    """The tag's (or pin's) manifest, and the image manifest of each platform asked for that it has."""
    repo = wanted.repository
    try:
        top = session.manifest(repo, wanted.digest or wanted.tag)
        if top is None:
            raise RegistryError(f"{repo.registry} has no {wanted.full_name}", 404)
        if "manifests" not in top.content:  # a single image: its config says its platform
            config = session.request(
                "GET", f"{repo.path}/blobs/{top.content['config']['digest']}", f"repository:{repo.path}:pull"
            )
            found = json.loads(config.body or b"{}")
            return top, {f"{found.get('os')}/{found.get('architecture')}": top}
        wanted_names = {platform.name for platform in platforms}
        manifests: dict[str, Manifest] = {}
        for entry in top.content["manifests"]:
            name = "{os}/{architecture}".format(**{"os": "", "architecture": "", **(entry.get("platform") or {})})
            if name in SUPPORTED and name not in manifests:
                manifest = session.manifest(repo, entry["digest"]) if name in wanted_names else top
                if manifest is None:  # the index names a manifest the registry does not serve
                    raise RegistryError(f"{repo.registry} has no {entry['digest']} ({name} of {wanted.full_name})", 404)
                manifests[name] = manifest
        return top, manifests
    except (RegistryError, KeyError, TypeError, ValueError) as err:
        status = err.status if isinstance(err, RegistryError) else 0
        raise registry_error(wanted, RegistryError(str(err), status)) from None


def platform_base(
    client: docker.DockerClient,
    wanted: BaseRef,
    auth: RegistryAuth,
    reporter: Reporter,
    policy: retry.Policy,
    platform: Platform,
    digest: str,
    manifest: Manifest,
    native: bool,
) -> BaseImage:
    """The platform's image pulled by its digest; its python3 asked (native) or read from its files."""
    image = pull(client, wanted, auth, reporter, policy, manifest.digest)
    name = wanted.full_name
    if native:
        probe = probe_python(client, image, name)
        python, binary = probe.python, None
        architecture(image, probe, name)
    else:
        python, binary = base_python(client, image)
        if not python:
            raise BuildError(
                f"base-image {name} for {platform.name} has no python3 whose name or PYTHON_VERSION says its version",
                PYTHON_FIX,
            )
        check_probe(Probe(python, platform.machine, "" if "musl" in binary.interpreter else "glibc"), name)
    base = BaseImage(
        name,
        f"{wanted.repository.name}@{manifest.digest}",
        digest,
        engine_id(image),
        python,
        platform.machine,
        platform.name,
        tuple(manifest.content.get("layers") or ()),
        native,
        binary,
    )
    how = "its python3 run" if native else "its python3 read from its files"
    reporter.info(f"    base image {platform.name}: {base.reference} (Python {python}, {how})")
    return base


def with_compiler(base: BaseImage, bases: list[BaseImage], reporter: Reporter) -> BaseImage:
    """Who writes a foreign platform's byte code: .pyc do not depend on the CPU, only on Python's minor version.
    A native base of the same Python first (the same bytes on every runner), else the runner's Python."""
    if base.native:
        return base
    same = next((other.image_id for other in bases if other.native and other.python == base.python), "")
    if not same and f"{sys.version_info[0]}.{sys.version_info[1]}" == base.python:
        same = RUNNER
    if not same:
        reporter.warn(
            f"{base.platform}: no Python {base.python} here to write the byte code, so the image has none: "
            "its server compiles its modules in memory at every start (a slower start)"
        )
    return replace(base, compiler=same or NO_BYTECODE)
