"""Several platforms (or one the engine does not run): one image per platform, each checked, then an OCI index.

Each platform's image is assembled as for one platform and loaded into the engine, which keeps the config's
architecture: so it can be run (natively, or under QEMU) or else inspected. The push goes through the
registry API, as ko, jib and crane push: the base's layers copied from its registry, the tool's three layers
streamed uncompressed (their digest is then their diff id: nothing to compress twice to learn it), each image
manifest stored by digest, and only the index (or, for one platform, its manifest) stored under the tags.
So no per-platform tag is ever made in a user's repository.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import docker

from ..errors import BuildError, ContainerCheckError, PushError
from ..image.base_image import BaseImage, parse_base
from ..image.build import Assembled, assemble, load
from ..image.check import check_container
from ..image.context import Context, assemble_context, installed_report
from ..image.layers import CHUNK, sent
from ..model.smoke import Probe
from ..registry.distribution import OCI_INDEX, OCI_MANIFEST, RegistryError, Session, digest_of, oci_descriptor
from ..registry.push import Pusher, confirm, partial_failure, push_fix
from ..registry.refs import Pushed, Repository
from ..registry.report import RepositoryReport, report_lines
from ..report import Reporter
from ..settings import Settings
from .foreign import Binary, base_libraries, check_statically
from .platforms import Platform, emulated

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_TAR = "application/vnd.oci.image.layer.v1.tar"


@dataclass
class PlatformImage:
    platform: Platform
    base: BaseImage
    context: Context
    image: Assembled
    image_id: str
    checked: str = ""  # how it was checked, for the summary

    def manifest(self, annotations: Mapping[str, str]) -> bytes:
        """The image manifest: the base's layers as its registry holds them, then the tool's, uncompressed."""
        if len(self.base.layers) != self.image.base_layers:
            raise BuildError(
                f"the {self.platform.name} base image's manifest lists {len(self.base.layers)} layers but "
                f"its config {self.image.base_layers}",
                "use another base-image (or tag) and rerun",
            )
        config = self.image.config
        layers = [oci_descriptor(layer) for layer in self.base.layers]
        layers += [{"mediaType": OCI_TAR, "digest": layer.diff_id, "size": layer.size} for layer in self.image.layers]
        content = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "layers": layers,
            "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
        }
        if annotations:
            content["annotations"] = dict(annotations)
        return json.dumps(content, indent=3).encode()

    def descriptor(self, manifest: bytes) -> dict[str, object]:
        config = json.loads(self.image.config)
        platform = {key: config[key] for key in ("architecture", "os", "variant") if config.get(key)}
        return {"mediaType": OCI_MANIFEST, "digest": digest_of(manifest), "size": len(manifest), "platform": platform}


def build_platforms(
    client: docker.DockerClient,
    settings: Settings,
    bases: list[BaseImage],
    bundle: Path,
    labels_for: Callable[[BaseImage], dict[str, str]],
    local_tag: str,
    reporter: Reporter,
) -> list[PlatformImage]:
    """Per platform: its wheels and byte code, the image assembled over its base and loaded into the engine."""
    built = []
    for base in bases:
        platform = Platform(*base.platform.split("/"))
        tag = f"{local_tag}-{platform.architecture}"  # in the engine only
        folder = settings.workdir / f"context-{platform.architecture}"
        context = assemble_context(client, settings, bundle, base, folder)
        image = assemble(client, base.image_id, context, labels_for(base), settings.source_date_epoch, settings.grpc)
        image_id = load(client, image.config, image.base_layers, image.layers, tag)
        reporter.info(f"    {platform.name}: {image_id} tagged {tag}")
        built.append(PlatformImage(platform, base, context, image, image_id))
    return built


def check_platforms(
    client: docker.DockerClient,
    settings: Settings,
    images: list[PlatformImage],
    probes: list[Probe],
    reporter: Reporter,
) -> float:
    """Run each image that this runner can run (natively or under QEMU), inspect the others; the first run's
    seconds to ready (0 when none ran)."""
    ready = 0.0
    for image in images:
        name = image.platform.name
        if image.base.native or emulated(image.platform):
            how = "run" if image.base.native else "run under QEMU emulation"
            reporter.info(f"    {name}: {how}")
            seconds = checked_under(client, settings, image, probes, reporter)
            ready = ready or seconds
            image.checked = f"{name}: {how}, answered as the runner did"
        else:
            folders = [image.context.deps, image.context.app, image.context.model]
            image.checked = check_statically(
                image.platform,
                image.base.binary or Binary("", None, ""),
                folders,
                installed_report(image.context.deps),
                base_libraries(client, image.base.image_id),
                image.base.python,
            ).line(image.platform)
        reporter.info(f"    {image.checked}")
    return ready


def checked_under(
    client: docker.DockerClient, settings: Settings, image: PlatformImage, probes: list[Probe], reporter: Reporter
) -> float:
    """The container check; under emulation a failure may be the emulator's, and the fix says what to do then."""
    try:
        return check_container(client, settings, image.image_id, probes, reporter)
    except ContainerCheckError as err:
        if image.base.native:
            raise
        machine = image.platform.machine
        raise ContainerCheckError(
            f"{image.platform.name}, run under QEMU emulation: {err.cause}",
            f"{err.fix}; if the emulator is at fault (qemu: uncaught target signal, or no answer "
            f"in time), have {image.platform.name} inspected instead: echo 0 > "
            f"/proc/sys/fs/binfmt_misc/qemu-{machine}, or run on a {machine} runner",
        ) from err


# ---------------------------------------------------------------- the push, through the registry API


@dataclass
class Blobs:
    """The base's layers, downloaded once from the base's registry for every registry that lacks them."""

    folder: Path
    session: Session
    repository: Repository

    def file(self, digest: str) -> Path:
        path = self.folder / digest.replace(":", "-")
        if not path.is_file():
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            self.session.download_blob(self.repository, digest, partial)
            partial.replace(path)
        return path


def blob_chunks(blobs: Blobs, digest: str) -> Iterator[bytes]:
    return file_chunks(blobs.file(digest))


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            yield chunk


def push_image(session: Session, repo: Repository, image: PlatformImage, manifest: bytes, blobs: Blobs) -> int:
    """The platform's blobs and manifest (by digest, untagged) in `repo`; the bytes sent."""
    count = 0
    for layer in image.base.layers:  # downloaded from the base's registry only when this registry lacks it
        digest, size = str(layer["digest"]), int(layer["size"])
        count += size * session.upload_stream(repo, digest, size, functools.partial(blob_chunks, blobs, digest))
    for own in image.image.layers:
        count += own.size * session.upload_stream(repo, own.diff_id, own.size, functools.partial(sent, own))
    session.upload_blob(repo, image.image.config)
    session.put_manifest(repo, digest_of(manifest), manifest, OCI_MANIFEST)
    return count + len(image.image.config) + len(manifest)


def top_manifest(images: list[PlatformImage], manifests: list[bytes], annotations: Mapping[str, str]) -> bytes:
    """What the tags name: the index over the platforms' manifests, or the one platform's manifest itself."""
    if len(images) == 1:
        return manifests[0]
    content: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [image.descriptor(body) for image, body in zip(images, manifests, strict=True)],
    }
    if annotations:
        content["annotations"] = dict(annotations)
    return json.dumps(content, indent=3).encode()


def push_repository(
    pusher: Pusher,
    repo: Repository,
    tags: list[str],
    images: list[PlatformImage],
    manifests: list[bytes],
    top: bytes,
    blobs: Blobs,
) -> RepositoryReport:
    report, start = RepositoryReport(repo), time.monotonic()
    media_type = OCI_INDEX if len(images) > 1 else OCI_MANIFEST
    try:
        session = pusher.session(repo.registry)
        for image, manifest in zip(images, manifests, strict=True):
            report.bytes_pushed += push_image(session, repo, image, manifest, blobs)
        for tag in tags:
            session.put_manifest(repo, tag, top, media_type)
            report.pushed.append(Pushed(repo, tag, digest_of(top)))
            confirm(session, report.pushed[-1])
        report.bytes_pushed += len(top) * len(tags)
    except RegistryError as err:
        report.error = PushError(f"pushing to {repo.name} failed: {err}", push_fix(str(err), repo.ref(tags[0])))
    except PushError as err:
        report.error = err
    report.credentials = pusher.auth.source(repo.registry)
    report.seconds = time.monotonic() - start
    return report


def push_platforms(
    pusher: Pusher, targets: Mapping[Repository, list[str]], images: list[PlatformImage], annotations: Mapping[str, str]
) -> tuple[list[Pushed], dict[str, str]]:
    """Every repository gets every platform's image and the index under its tags; (what was pushed, platform ->
    manifest digest). PushError afterwards when any repository failed, as for one platform."""
    manifests = [image.manifest(annotations) for image in images]
    top = top_manifest(images, manifests, annotations)
    base = parse_base(images[0].base.name).repository
    blobs = Blobs(pusher.settings.workdir / "blobs", pusher.session(base.registry), base)
    reports = [push_repository(pusher, repo, tags, images, manifests, top, blobs) for repo, tags in targets.items()]
    for line in report_lines(reports):
        pusher.reporter.info(line)
    pusher.reporter.info(
        "    "
        + ", ".join(f"{image.platform.name} {digest_of(body)}" for image, body in zip(images, manifests, strict=True))
    )
    failed = [report for report in reports if report.error]
    if failed:
        raise partial_failure(failed, [report for report in reports if not report.error])
    digests = {image.platform.name: digest_of(body) for image, body in zip(images, manifests, strict=True)}
    return [pushed for report in reports for pushed in report.pushed], digests
