"""The pipeline, stage by stage: settings → source → inspect + smoke test → context → build → check → push."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from typing import Any

from . import engine
from .base_image import BaseImage, resolve_base
from .build import build_image, image_labels
from .bundle import assemble_bundle
from .check import CONTAINER_SAMPLES, check_container
from .context import assemble_context
from .errors import PushError, SettingsError
from .inspection import inspect_model
from .optimize import Trial, improve_model
from .outputs import output_values
from .push import Pushed, check_credentials, pull_cache, push_all
from .metadata import manifest_annotations, parse_annotations, parse_labels
from .refs import TagPlan, plan_tags, tag_from
from .registry import check_ca
from .registry_auth import RegistryAuth
from .report import Reporter
from .settings import Settings, check_source_inputs
from .samples import load_samples
from .smoke import Probe, reanswer, smoke_samples
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
    samples: int = 1  # golden requests answered on the runner
    checked: int = 1  # of them, sent to the container
    trials: list[Trial] = field(default_factory=list)  # optimize / quantize


def plan_targets(settings: Settings) -> TagPlan:
    """Validate every reference before any work is done."""
    plan = plan_tags(settings.images, settings.tags)
    check_ca(settings.registry_ca)
    if settings.push and not plan.repositories:
        raise SettingsError("images is empty, so there is nowhere to push",
                            "set images (e.g. ghcr.io/my-org/model), or push: false to only build and check")
    return plan


def default_tags(settings: Settings, version: str) -> list[str]:
    """The model version and the short commit: the tags when none are given."""
    return list(dict.fromkeys([tag_from(version)] + ([settings.revision[:7]] if settings.revision else [])))


def local_name(model_name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", model_name.lower()).strip("._-") or "model"


def run(settings: Settings, reporter: Reporter) -> Result:
    check_source_inputs(settings)
    check_source(settings)
    plan = plan_targets(settings)
    repos = plan.repositories
    labels, annotations = parse_labels(settings.labels), parse_annotations(settings.annotations)
    samples = load_samples(settings)
    for skipped in annotations.skipped:
        reporter.warn(f"annotation {skipped} skipped: this single-platform image has a manifest and no index")
    auth = RegistryAuth(settings, mask=reporter.mask)  # parses registry-auth: a mistake there stops the run here
    # What can fail cheaply comes before the model download, which may be gigabytes.
    client = engine.connect(settings)
    with reporter.stage("Resolve base image"):
        base = resolve_base(client, settings, auth, reporter)
    if settings.push and repos:
        with reporter.stage("Check registry credentials"):
            check_credentials(client, settings, repos, auth, reporter)
    work = settings.workdir
    shutil.rmtree(work, ignore_errors=True)
    (work / "source").mkdir(parents=True)
    with reporter.stage("Fetch model"):
        model = fetch(settings, work / "source", reporter.mask)
        reporter.info(f"    {model.name} version {model.version}, {model.model_file}, sha256 {model.sha256}")
    with reporter.stage("Inspect and smoke test"):
        has_tokenizer = assemble_bundle(settings, model, work / "bundle")
        inspection = inspect_model(settings, model, work / "bundle", has_tokenizer)
        reporter.info(f"    task {inspection.task}; inputs "
                      + ", ".join(f"{t.name} {t.type} {list(t.shape)}" for t in inspection.inputs))
        probes = smoke_samples(inspection, work / "bundle", samples)
        probe = probes[0]
        reporter.info(f"    POST {probe.path} -> {probe.answer}"
                      + (f"; {len(probes)} samples answered" if len(probes) > 1 else ""))
    with reporter.stage("Optimize"):
        trials = improve_model(settings, inspection, work / "bundle", probes, work / "optimize", reporter)
        if any(trial.served for trial in trials):  # the container must answer as the model it serves
            probes = reanswer(work / "bundle", probes)
    default = default_tags(settings, str(inspection.spec["version"]))
    targets = plan.targets(default)
    if settings.cache and repos:
        with reporter.stage("Pull build cache"):
            pull_cache(client, settings, repos[0], targets[repos[0]], auth, reporter)
    with reporter.stage("Build image"):
        context = assemble_context(client, settings, work / "bundle", base, work / "context")
        local_tag = (repos[0].ref(targets[repos[0]][0]) if repos
                     else f"onnx-package/{local_name(model.name)}:{default[0]}")
        config_labels = image_labels(settings, inspection.spec, base, labels)
        image_id = build_image(client, base.image_id, context, local_tag, config_labels,
                               settings.source_date_epoch, work / "context" / "layers")
        for repo, tags in targets.items():
            for tag in tags:
                client.api.tag(image_id, repo.name, tag)
        reporter.info(f"    {image_id} tagged {local_tag}")
    with reporter.stage("Check container"):
        ready = check_container(client, settings, image_id, probes, reporter)
    result = Result(spec=inspection.spec, image_id=image_id, probe=probe, base=base, ready_seconds=ready,
                    image_size=int(client.images.get(image_id).attrs.get("Size") or 0),
                    samples=len(probes), checked=min(len(probes), CONTAINER_SAMPLES), trials=trials)
    if settings.push:
        with reporter.stage("Push"):
            try:
                result.pushed = push_all(client, settings, targets, reporter, auth,
                                         manifest_annotations(config_labels, annotations))
            except PushError as err:  # the registries that got the image still count in the outputs
                err.outputs = output_values(err.pushed, image_id, inspection.spec) if err.pushed else {}
                raise
    return result
