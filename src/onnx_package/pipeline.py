"""The pipeline, stage by stage: settings → source → inspect + smoke test → context → build → check → push."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

from .disk import Needs, disk_full, folder_bytes, is_full
from .errors import DiskFullError, PackageError, PushError, ReleaseGateError, SettingsError
from .image import engine
from .image.base_image import BaseImage, resolve_platforms
from .image.build import build_image, image_labels, timestamp
from .image.check import CONTAINER_SAMPLES, check_container
from .image.context import assemble_context, installed_report
from .image.metadata import Annotations, manifest_annotations, parse_annotations, parse_labels
from .image.release_gate import Diff, compare_images, enforce
from .image.sbom import (
    MEDIA_TYPE,
    SBOM_FILE,
    Package,
    bom_bytes,
    installed_packages,
    ml_bom,
    platform_packages,
    summary_line,
    write_bom,
)
from .model.bundle import assemble_bundle
from .model.inspection import Inspection, inspect_model
from .model.optimize import Trial, improve_model
from .model.samples import Sample, load_samples
from .model.smoke import Probe, reanswer, smoke_samples
from .multiarch.images import PlatformImage, build_platforms, check_platforms, push_platforms
from .multiarch.platforms import Platform, engine_platform, parse_platforms
from .outputs import output_values
from .registry.auth import RegistryAuth
from .registry.cache import pull_cache
from .registry.distribution import check_ca
from .registry.push import Pusher, push_all
from .registry.referrers import Attached, attach_everywhere
from .registry.refs import Pushed, Repository, TagPlan, plan_tags, tag_from
from .registry.rights import check_credentials
from .report import Reporter
from .settings import Settings, check_source_inputs
from .sources import FetchedModel, check_source, fetch


@dataclass
class Result:
    spec: dict[str, Any]
    image_id: str
    probe: Probe
    base: BaseImage
    ready_seconds: float
    image_size: int = 0  # bytes, as the engine reports it
    pushed: list[Pushed] = field(default_factory=list)
    sbom: Path | None = None  # the ML-BOM written for this image
    sbom_line: str = ""  # what it holds, in short
    attached: list[Attached] = field(default_factory=list)  # where the ML-BOM went
    platforms: list[PlatformImage] = field(default_factory=list)  # one per platform, unless the engine's alone
    platform_digests: dict[str, str] = field(default_factory=dict)  # platform -> its image manifest's digest
    samples: int = 1  # golden requests answered on the runner
    trials: list[Trial] = field(default_factory=list)  # optimize / quantize
    diff: Diff | None = None  # against the previous image, when there was one

    @property
    def checked(self) -> int:
        """Of the golden requests, those sent to the container."""
        return min(self.samples, CONTAINER_SAMPLES)


@dataclass(frozen=True)
class Checked:
    """What the inputs say, checked before any work: where each tag goes, what to write on the image, the
    platforms, the golden set."""

    plan: TagPlan
    labels: dict[str, str]
    annotations: Annotations
    platforms: tuple[Platform, ...]
    samples: list[Sample]


def plan_targets(settings: Settings) -> TagPlan:
    """Validate every reference before any work is done."""
    plan = plan_tags(settings.images, settings.tags)
    check_ca(settings.registry_ca)
    if settings.push and not plan.repositories:
        raise SettingsError(
            "images is empty, so there is nowhere to push",
            "set images (e.g. ghcr.io/my-org/model), or push: false to only build and check",
        )
    return plan


def default_tags(settings: Settings, version: str) -> list[str]:
    """The model version and the short commit: the tags when none are given."""
    return list(dict.fromkeys([tag_from(version)] + ([settings.revision[:7]] if settings.revision else [])))


def local_name(model_name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", model_name.lower()).strip("._-") or "model"


def run(settings: Settings, reporter: Reporter) -> Result:
    check_source_inputs(settings)
    check_source(settings)
    checked = Checked(
        plan_targets(settings),
        parse_labels(settings.labels),
        parse_annotations(settings.annotations),
        parse_platforms(settings.platforms),
        load_samples(settings),
    )
    repos = checked.plan.repositories
    for skipped in checked.annotations.skipped:
        reporter.warn(f"annotation {skipped} skipped: this single-platform image has a manifest and no index")
    auth = RegistryAuth(settings, mask=reporter.mask)  # parses registry-auth: a mistake there stops the run here
    # What can fail cheaply comes before the model download, which may be gigabytes.
    client = engine.connect(settings)
    with reporter.stage("Resolve base image"):
        bases = resolve_platforms(client, settings, auth, reporter, checked.platforms, engine_platform(client))
    if settings.push and repos:
        with reporter.stage("Check registry credentials"):
            check_credentials(client, settings, repos, auth, reporter)
    with work_folder(settings, reporter) as needs:
        return package(settings, reporter, client, bases, checked, auth, needs)


@contextmanager
def work_folder(settings: Settings, reporter: Reporter) -> Iterator[Needs]:
    """A fresh work folder, gone when the run ends however it ends (kept when debugging); a full disk on the
    way is reported with the space the run needs, from the sizes it learnt."""
    work = settings.workdir
    shutil.rmtree(work, ignore_errors=True)  # a debugging run's
    needs = Needs()
    try:
        (work / "source").mkdir(parents=True)
        yield needs
    except (OSError, PackageError) as err:
        if is_full(err) and not isinstance(err, (DiskFullError, PushError)):  # a push fails on the registry's disk
            raise disk_full(err, needs, work) from err
        raise
    finally:
        if settings.debug:
            reporter.info(f"    work folder kept for debugging: {work.resolve()}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def package(
    settings: Settings,
    reporter: Reporter,
    client: docker.DockerClient,
    bases: list[BaseImage],
    checked: Checked,
    auth: RegistryAuth,
    needs: Needs,
) -> Result:
    """Fetch, inspect, build, check and push, in the work folder."""
    work, repos, base = settings.workdir, checked.plan.repositories, bases[0]
    engine_only = not base.platform  # the engine's own platform alone: built, checked and pushed by the engine
    if settings.model_source == "local":
        needs.model = folder_bytes(Path(settings.model_path).expanduser())
    with reporter.stage("Fetch model"):
        model = fetch(settings, work / "source", reporter.mask)
        reporter.info(f"    {model.name} version {model.version}, {model.model_file}, sha256 {model.sha256}")
    with reporter.stage("Inspect and smoke test"):
        has_tokenizer = assemble_bundle(settings, model, work / "bundle")
        needs.model = folder_bytes(work / "bundle")
        inspection = inspect_model(settings, model, work / "bundle", has_tokenizer)
        reporter.info(
            f"    task {inspection.task}; inputs "
            + ", ".join(f"{t.name} {t.type} {list(t.declared_shape)}" for t in inspection.inputs)
        )
        probes = smoke_samples(inspection, work / "bundle", checked.samples)
        probe = probes[0]
        reporter.info(
            f"    POST {probe.path} -> {probe.answer}"
            + (f"; {len(probes)} samples answered" if len(probes) > 1 else "")
        )
    with reporter.stage("Optimize"):
        trials = improve_model(settings, inspection, work / "bundle", probes, work / "optimize", reporter)
        if any(trial.served for trial in trials):  # the container must answer as the model it serves
            probes = reanswer(work / "bundle", probes)
    default = default_tags(settings, str(inspection.spec["version"]))
    targets, previous = checked.plan.targets(default), ""
    if settings.cache and repos and engine_only:
        with reporter.stage("Pull build cache"):
            cached = pull_cache(client, settings, repos[0], targets[repos[0]], auth, reporter)
            previous = engine.engine_id(client.images.get(cached[0])) if cached else ""  # before this build's tags move
    local_tag = (
        repos[0].ref(targets[repos[0]][0])
        if repos and engine_only
        else f"onnx-package/{local_name(model.name)}:{default[0]}"
    )
    config_labels = image_labels(settings, inspection.spec, base, checked.labels)
    if not engine_only:
        return package_platforms(
            settings,
            reporter,
            client,
            bases,
            checked,
            auth,
            targets,
            inspection,
            model,
            has_tokenizer,
            local_tag,
            config_labels,
            probes,
            trials,
        )
    with reporter.stage("Build image"):
        context = assemble_context(client, settings, work / "bundle", base, work / "context")
        needs.deps = folder_bytes(context.deps)
        packages = installed_packages(installed_report(context.deps))
        image_id = build_image(
            client, base.image_id, context, local_tag, config_labels, settings.source_date_epoch, settings.grpc
        )
        for repo, tags in targets.items():
            for tag in tags:
                client.api.tag(image_id, repo.name, tag)
        reporter.info(f"    {image_id} tagged {local_tag}")
    with reporter.stage("Check container"):
        ready = check_container(client, settings, image_id, probes, reporter)
    result = Result(
        spec=inspection.spec,
        image_id=image_id,
        probe=probe,
        base=base,
        ready_seconds=ready,
        image_size=int(client.images.get(image_id).attrs.get("Size") or 0),
        samples=len(probes),
        trials=trials,
    )
    if previous and previous != image_id:
        release_gate(client, settings, reporter, result, previous, probes)
    if settings.push:
        with reporter.stage("Push"):
            try:
                result.pushed = push_all(
                    client, settings, targets, reporter, auth, manifest_annotations(config_labels, checked.annotations)
                )
                if len({pushed.digest for pushed in result.pushed}) == 1:
                    result.platform_digests = {checked.platforms[0].name: result.pushed[0].digest}
            except PushError as err:  # the registries that got the image still count in the outputs
                raise err.with_outputs(
                    output_values(err.pushed, image_id, inspection.spec) if err.pushed else {}
                ) from None
    bom_stage(settings, reporter, client, auth, result, repos, local_tag, inspection, model, has_tokenizer, packages)
    return result


def release_gate(
    client: docker.DockerClient,
    settings: Settings,
    reporter: Reporter,
    result: Result,
    previous: str,
    probes: list[Probe],
) -> None:
    """The new image against the previous one on the golden set; max-changed-answers may stop the run here."""
    with reporter.stage("Compare with the previous image"):
        result.diff = compare_images(client, settings, previous, result.image_id, probes, reporter)
        try:
            enforce(result.diff, settings.max_changed_answers)
        except ReleaseGateError as err:
            raise err.with_outputs({"diff": result.diff.to_json(), "image-id": result.image_id}) from None


def bom_stage(
    settings: Settings,
    reporter: Reporter,
    client: docker.DockerClient,
    auth: RegistryAuth,
    result: Result,
    repos: list[Repository],
    local_tag: str,
    inspection: Inspection,
    model: FetchedModel,
    has_tokenizer: bool,
    packages: list[Package],
) -> None:
    """The ML-BOM of what the tags name: the image, or with several platforms the index over them."""
    with reporter.stage("ML-BOM"):
        name = repos[0].name if repos else local_tag.rsplit(":", 1)[0]
        tokenizer = settings.tokenizer or ("bundled with the model" if has_tokenizer else "")
        document = ml_bom(
            image_name=name,
            image_digest=result.pushed[0].digest if result.pushed else result.image_id,
            inspection=inspection,
            origin=model.origin,
            tokenizer=tokenizer,
            base=result.base,
            packages=packages,
            created=settings.source_date_epoch,
        )
        record_bom(client, settings, auth, reporter, result, document)


def package_platforms(
    settings: Settings,
    reporter: Reporter,
    client: docker.DockerClient,
    bases: list[BaseImage],
    checked: Checked,
    auth: RegistryAuth,
    targets: dict[Repository, list[str]],
    inspection: Inspection,
    model: FetchedModel,
    has_tokenizer: bool,
    local_tag: str,
    config_labels: dict[str, str],
    probes: list[Probe],
    trials: list[Trial],
) -> Result:
    """One image per platform, each run or inspected, pushed with an index over them through the registry API."""
    with reporter.stage("Build image"):
        images = build_platforms(
            client,
            settings,
            bases,
            settings.workdir / "bundle",
            lambda base: image_labels(settings, inspection.spec, base, checked.labels),
            local_tag,
            reporter,
        )
    with reporter.stage("Check container"):
        ready = check_platforms(client, settings, images, probes, reporter)
    result = Result(
        spec=inspection.spec,
        image_id=images[0].image_id,
        probe=probes[0],
        base=bases[0],
        ready_seconds=ready,
        image_size=int(client.images.get(images[0].image_id).attrs.get("Size") or 0),
        platforms=images,
        samples=len(probes),
        trials=trials,
    )
    if settings.push:
        with reporter.stage("Push"):
            annotations = manifest_annotations(config_labels, checked.annotations)
            try:
                result.pushed, result.platform_digests = push_platforms(
                    Pusher(client, settings, auth, reporter), targets, images, annotations
                )
            except PushError as err:
                raise err.with_outputs(
                    output_values(err.pushed, result.image_id, inspection.spec) if err.pushed else {}
                ) from None
    packages = platform_packages({image.platform.name: installed_report(image.context.deps) for image in images})
    bom_stage(
        settings,
        reporter,
        client,
        auth,
        result,
        checked.plan.repositories,
        local_tag,
        inspection,
        model,
        has_tokenizer,
        packages,
    )
    return result


def record_bom(
    client: docker.DockerClient,
    settings: Settings,
    auth: RegistryAuth,
    reporter: Reporter,
    result: Result,
    document: dict[str, Any],
) -> None:
    """Write the ML-BOM beside the work folder (the sbom output) and attach it to the image in every registry."""
    result.sbom, result.sbom_line = write_bom(document, settings.workdir.with_name(SBOM_FILE)), summary_line(document)
    reporter.info(f"    {result.sbom_line}: {result.sbom}")
    if not result.pushed:
        return
    try:
        result.attached = attach_everywhere(
            Pusher(client, settings, auth, reporter).session,
            result.pushed,
            bom_bytes(document),
            MEDIA_TYPE,
            SBOM_FILE,
            timestamp(settings.source_date_epoch),
            "sbom",
            reporter,
        )
    except PushError as err:  # the image is in every registry: the outputs say so
        raise err.with_outputs(
            output_values(result.pushed, result.image_id, result.spec, result.sbom, result.platform_digests)
        ) from None
