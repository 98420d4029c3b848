"""Build + push: a first package on a fresh runner, then a new model version with the previous image as cache.

    python benchmarks/push_bench.py                       # ~2 minutes on 2 cores

The pipeline runs in this process (onnx_package.pipeline.run) against its own docker-registry on 127.0.0.1,
behind the tests' fault proxy with no faults injected: the proxy counts every byte that reaches the
registry. Every run starts like a fresh CI runner: no local copy of the image, and the serving
dependencies freshly installed (a copy of the wheel cache with new file times, as pip would leave them).

  1. version 1 of the wine classifier (tests/support/models.py): a full build and push to an empty registry;
  2. version 2, a different model (a regressor) and nothing else: the previous image (tag 1, found as
     the highest version-like tag) is pulled and used as cache: the push should send only the model
     layer, the image config and the manifests (one per tag).

For contrast, the table ends with what run 2 would send on a fresh runner without that cache: every
layer above the base image (measured from run 1's manifest). A third run with cache: false would not
show it on this machine: the engine's local build cache matches COPY steps by content whatever the
file times, so it would find run 1's layers locally, which a fresh CI runner does not have.

Needs the Docker engine, /usr/bin/docker-registry and the base image onnx-package-test/base:bookworm
(scripts/setup-machine.sh).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "tests" / "registry"))

from acr_standin import free_port  # noqa: E402

from fault_proxy import FaultProxy  # noqa: E402
from models import make_tabular_classifier, make_tabular_regressor  # noqa: E402
from onnx_package.pipeline import run  # noqa: E402
from onnx_package.registry.distribution import Endpoint, Session  # noqa: E402
from onnx_package.registry.refs import Repository  # noqa: E402
from onnx_package.registry.report import human_bytes  # noqa: E402
from onnx_package.report import Reporter  # noqa: E402
from onnx_package.settings import load_settings  # noqa: E402

REPOSITORY = "bench/wine"
BLOB_PUT = re.compile(r"^/v2/.*/blobs/uploads/.*[?&]digest=")
MANIFEST_PUT = re.compile(r"^/v2/.*/manifests/")


@dataclass
class Measure:
    name: str
    seconds: float
    stages: dict[str, float]
    sent: int  # request body bytes that reached the registry
    blobs: int  # blobs uploaded (layers + config)
    manifests: int
    layers: int  # layers in the image
    reported: str  # what the tool's own push report says it sent


def start_registry(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = {
        "version": "0.1",
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "bench"},
    }
    (root / "config.yml").write_text(json.dumps(config))
    with (root / "registry.log").open("wb") as log:
        process = subprocess.Popen(
            ["/usr/bin/docker-registry", "serve", str(root / "config.yml")],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}/v2/", timeout=1)
            return process, url
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"docker-registry did not start: {(root / 'registry.log').read_text()[-1000:]}")


def fresh_runner(client: docker.DockerClient, repository: str, work: Path, wheels: Path) -> Path:
    """No local image of the repository; the serving dependencies installed anew (new file times).

    The newest complete entry of the runner's dependency cache is copied with fresh file times (what a
    new pip install gives); if it is not the one the lock file asks for, the pipeline installs it."""
    for image in client.images.list(name=repository):
        client.images.remove(image.id, force=True)
    cache = work / f"xdg-{time.monotonic_ns()}"
    ready = sorted(
        (entry for entry in wheels.glob("*") if (entry / ".complete").is_file()),
        key=lambda entry: entry.stat().st_mtime,
    )
    if ready:
        shutil.copytree(ready[-1], cache / "onnx-package" / "deps" / ready[-1].name, copy_function=shutil.copy)
    return cache


def package(
    name: str, model: Path, version: str, images: str, cache: bool, base: str, work: Path, xdg: Path, proxy: FaultProxy
) -> Measure:
    environ = {
        **os.environ,
        "RUNNER_TEMP": str(work),
        "XDG_CACHE_HOME": str(xdg),
        "DOCKER_CONFIG": str(work / "docker-config"),
        "GITHUB_SHA": os.urandom(20).hex(),
    }
    settings = load_settings(
        {
            "model-source": "local",
            "model-path": str(model),
            "model-version": version,
            "images": images,
            "base-image": base,
            "cache": str(cache).lower(),
        },
        environ,
    )
    reporter = Reporter(io.StringIO())
    proxy.reset_counters()
    start = time.monotonic()
    try:
        run(settings, reporter)
    except Exception:
        print(reporter.stream.getvalue(), file=sys.stderr)
        raise
    seconds = time.monotonic() - start
    log = reporter.stream.getvalue()
    layers = re.search(r"\(\d+ of (\d+) layers, ", log)
    row = re.search(rf"^    {re.escape(images)}:{version} +sha256:\w+ +([\d.]+ \w+) ", log, re.MULTILINE)
    return Measure(
        name,
        seconds,
        dict(reporter.stage_seconds),
        proxy.uploaded,
        sum(1 for method, path, _ in proxy.forwarded if method == "PUT" and BLOB_PUT.match(path)),
        sum(1 for method, path, _ in proxy.forwarded if method == "PUT" and MANIFEST_PUT.match(path)),
        int(layers.group(1)) if layers else 0,
        row.group(1) if row else "?",
    )


def above_base(client: docker.DockerClient, base: str, url: str, tag: str) -> int:
    """Compressed bytes of the image's layers that its base image does not have."""
    base_layers = len(client.api.inspect_image(base)["RootFS"]["Layers"])
    manifest = Session([Endpoint(url)]).manifest(Repository(url.split("://")[1], REPOSITORY), tag)
    assert manifest, f"{REPOSITORY}:{tag} is not in the registry"
    return sum(manifest.layer_sizes()[base_layers:])


def table(measures: list[Measure]) -> str:
    stages = ("Pull build cache", "Build image", "Push")
    head = f"{'run':<46} {'total':>8} {'cache':>7} {'build':>7} {'push':>7} {'sent':>10}  what was sent"
    lines = [head, "-" * len(head)]
    for m in measures:
        times = " ".join(f"{m.stages.get(stage, 0.0):6.1f}s" for stage in stages)
        layers = m.blobs - 1 if m.blobs else 0
        what = f"{layers} of {m.layers} layers + config + {m.manifests} manifests (the tool's report: {m.reported})"
        lines.append(f"{m.name:<46} {m.seconds:7.1f}s {times} {human_bytes(m.sent):>10}  {what}")
    return "\n".join(lines)


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    cli.add_argument("--base-image", default="onnx-package-test/base:bookworm")
    args = cli.parse_args()
    client = docker.from_env()
    work = Path(tempfile.mkdtemp(prefix="push-bench-"))
    (work / "registry").mkdir()
    (work / "docker-config").mkdir()
    wheels = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "onnx-package" / "deps"
    process, url = start_registry(work / "registry")
    proxy = FaultProxy(url).start()
    images = f"{proxy.host}/{REPOSITORY}"
    models = [make_tabular_classifier(work / "model-1"), make_tabular_regressor(work / "model-2")]
    runs = ["1. version 1, empty registry", "2. version 2 (a new model only), cache: true"]
    measures = []
    try:
        for number, name in enumerate(runs, 1):
            xdg = fresh_runner(client, images, work, wheels)
            measures.append(
                package(name, models[number - 1], str(number), images, True, args.base_image, work, xdg, proxy)
            )
            print(f"done: {name} in {measures[-1].seconds:.1f} s", file=sys.stderr, flush=True)
        print(table(measures))
        without = above_base(client, args.base_image, proxy.url, "1")
        print(
            f"{'   without the cache, run 2 would send about':<46} {'':>8} {'':>31} {human_bytes(without):>10}  "
            "every layer above the base image (from run 1's manifest)"
        )
        full, cached = measures[0], measures[1]
        model_only = cached.blobs == 2  # the model layer and the image config; the manifests (one per tag)
        print(
            f"\nmodel-only rebuild: {'yes' if model_only else 'NO'}: the second push sent "
            f"{human_bytes(cached.sent)} ({cached.blobs - 1} layer + config + {cached.manifests} manifests, "
            f"one per tag) against {human_bytes(full.sent)} for the first"
        )
    finally:
        for image in client.images.list(name=images):
            client.images.remove(image.id, force=True)
        proxy.stop()
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
