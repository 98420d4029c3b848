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

from . import engine
from .base_image import BaseImage, resolve_base
from .build import build_image, image_labels
from .bundle import assemble_bundle
from .check import check_container
from .context import assemble_context
from .disk import Needs, disk_full, folder_bytes, is_full
from .errors import DiskFullError, PackageError, PushError, SettingsError
from .inspection import inspect_model
from .outputs import output_values
from .push import Pushed, check_credentials, pull_cache, push_all
from .refs import Repository, check_tag, parse_repositories, tag_from
from .registry import check_ca
from .registry_auth import RegistryAuth
from .report import Reporter
from .settings import Settings, check_source_inputs
from .smoke import Probe, smoke_test
from .sources import check_source, fetch


@dataclass
class Result:
    spec: dict[str, Any]
    image_id: str
    probe: Probe
    base: BaseImage
    ready_seconds: float
    image_size: int = 0  # bytes, as the engine reports it
    pushed: list[Pushed] = field(default_factory=list)


def plan_targets(settings: Settings) -> list[Repository]:
    """Validate every reference before any work is done."""
    repos = parse_repositories(settings.images)
    for tag in settings.tags:
        check_tag(tag)
    check_ca(settings.registry_ca)
    if settings.push and not repos:
        raise SettingsError("images is empty, so there is nowhere to push",
                            "set images (e.g. ghcr.io/my-org/model), or push: false to only build and check")
    return repos


def default_tags(settings: Settings, version: str) -> list[str]:
    if settings.tags:
        return list(dict.fromkeys(settings.tags))
    return list(dict.fromkeys([tag_from(version)] + ([settings.revision[:7]] if settings.revision else [])))


def local_name(model_name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", model_name.lower()).strip("._-") or "model"


def run(settings: Settings, reporter: Reporter) -> Result:
    check_source_inputs(settings)
    check_source(settings)
    repos = plan_targets(settings)
    auth = RegistryAuth(settings, mask=reporter.mask)  # parses registry-auth: a mistake there stops the run here
    # What can fail cheaply comes before the model download, which may be gigabytes.
    client = engine.connect(settings)
    with reporter.stage("Resolve base image"):
        base = resolve_base(client, settings, auth, reporter)
    if settings.push and repos:
        with reporter.stage("Check registry credentials"):
            check_credentials(client, settings, repos, auth, reporter)
    with work_folder(settings, reporter) as needs:
        return package(settings, reporter, client, base, repos, auth, needs)


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


def package(settings: Settings, reporter: Reporter, client: docker.DockerClient, base: BaseImage,
            repos: list[Repository], auth: RegistryAuth, needs: Needs) -> Result:
    """Fetch, inspect, build, check and push, in the work folder."""
    work = settings.workdir
    if settings.model_source == "local":
        needs.model = folder_bytes(Path(settings.model_path).expanduser())
    with reporter.stage("Fetch model"):
        model = fetch(settings, work / "source", reporter.mask)
        reporter.info(f"    {model.name} version {model.version}, {model.model_file}, sha256 {model.sha256}")
    with reporter.stage("Inspect and smoke test"):
        has_tokenizer = assemble_bundle(settings, model, work / "bundle")
        needs.model = folder_bytes(work / "bundle")
        inspection = inspect_model(settings, model, work / "bundle", has_tokenizer)
        reporter.info(f"    task {inspection.task}; inputs "
                      + ", ".join(f"{t.name} {t.type} {list(t.shape)}" for t in inspection.inputs))
        probe = smoke_test(settings, inspection, work / "bundle")
        reporter.info(f"    POST {probe.path} -> {probe.answer}")
    tags = default_tags(settings, str(inspection.spec["version"]))
    if settings.cache and repos:
        with reporter.stage("Pull build cache"):
            pull_cache(client, settings, repos[0], tags, auth, reporter)
    with reporter.stage("Build image"):
        context = assemble_context(client, settings, work / "bundle", base, work / "context")
        needs.deps = folder_bytes(context.deps)
        local_tag = repos[0].ref(tags[0]) if repos else f"onnx-package/{local_name(model.name)}:{tags[0]}"
        image_id = build_image(client, base.image_id, context, local_tag, image_labels(settings, inspection.spec, base),
                               settings.source_date_epoch)
        for repo in repos:
            for tag in tags:
                client.api.tag(image_id, repo.name, tag)
        reporter.info(f"    {image_id} tagged {local_tag}")
    with reporter.stage("Check container"):
        ready = check_container(client, settings, image_id, probe, reporter)
    result = Result(spec=inspection.spec, image_id=image_id, probe=probe, base=base, ready_seconds=ready,
                    image_size=int(client.images.get(image_id).attrs.get("Size") or 0))
    if settings.push:
        with reporter.stage("Push"):
            try:
                result.pushed = push_all(client, settings, repos, tags, reporter, auth)
            except PushError as err:  # the registries that got the image still count in the outputs
                err.outputs = output_values(err.pushed, image_id, inspection.spec) if err.pushed else {}
                raise
    return result
