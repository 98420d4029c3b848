"""Peak disk use of one run: the ~500 MB RoBERTa-base-sized model packaged and pushed to a local registry.

    python benchmarks/disk_bench.py                                  # this checkout's code, ~3 minutes on 2 cores
    python benchmarks/disk_bench.py --compare /tmp/disk-before/src   # and another checkout's src/, in turns

Each run is a fresh runner (no local image of the repository; the dependency cache a new copy of the entry this
lock file and base image need, when --wheels has it, else installed by the run) that runs
the `onnx-package` CLI of a src/ folder (PYTHONPATH) with RUNNER_TEMP and XDG_CACHE_HOME in a folder of its own,
`--model-source local` on the model made by benchmarks/roberta.py (kept in --model-dir), pushing to its own
docker-registry on 127.0.0.1. While it runs, a thread samples every 50 ms:
  runner   bytes under the work folder and the dependency cache, each file once (hard links are one file), the
           user's model files left out: they are on the disk before the run and after it;
  engine   bytes in the engine's temporary folder (/var/lib/docker/tmp, where `docker load` unpacks the archive),
           to which the image's own layers are added (the image's size less its base's, read after the run).
Also: what the work folder holds once the run has ended, and the run's seconds (noisy: compare them as a ratio).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests" / "support"))

import roberta  # noqa: E402
from push_bench import start_registry  # noqa: E402

from disk_usage import unique_bytes  # noqa: E402
from onnx_package.image.context import DEPS_FORMAT, LOCK_FILE  # noqa: E402

BASE_IMAGE = "onnx-package-test/base:bookworm"
ENGINE_TMP = Path("/var/lib/docker/tmp")
SAMPLE_SECONDS = 0.05
MB = 1e6


class Sampler(threading.Thread):
    def __init__(self, runner: list[Path], skip: set[tuple[int, int]]) -> None:
        super().__init__(daemon=True)
        self.runner, self.skip, self.done = runner, skip, threading.Event()
        self.runner_peak = self.engine_peak = 0

    def run(self) -> None:
        while not self.done.wait(SAMPLE_SECONDS):  # until the run ends
            self.runner_peak = max(self.runner_peak, unique_bytes(self.runner, self.skip))
            self.engine_peak = max(self.engine_peak, unique_bytes([ENGINE_TMP], set()))


def fresh_runner(client: docker.DockerClient, repository: str, work: Path, wheels: Path) -> Path:
    """No local image of the repository; a dependency cache holding a fresh copy of the entry the run needs."""
    for image in client.images.list(name=repository):
        client.images.remove(image.id, force=True)
    recipe = f"{DEPS_FORMAT}{LOCK_FILE.read_text()}{client.images.get(BASE_IMAGE).id}"  # as context.dependencies
    key = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    cache = work / f"xdg-{time.monotonic_ns()}"
    if (wheels / key / ".complete").is_file():
        shutil.copytree(wheels / key, cache / "onnx-package" / "deps" / key, copy_function=shutil.copy)
    return cache


def one_run(name: str, src: Path, model: Path, host: str, work: Path, wheels: Path) -> dict[str, float | str]:
    client = docker.from_env(timeout=600)
    repository = f"{host}/bench/disk-{name}"
    xdg = fresh_runner(client, repository, work, wheels)
    temp = work / f"runner-temp-{name}"
    temp.mkdir()
    environ = {
        **os.environ,
        "PYTHONPATH": str(src),
        "RUNNER_TEMP": str(temp),
        "XDG_CACHE_HOME": str(xdg),
        "DOCKER_CONFIG": str(work / "docker-config"),
    }
    environ.pop("GITHUB_OUTPUT", None)
    user_files = {(p.stat().st_dev, p.stat().st_ino) for p in model.iterdir()}
    sampler = Sampler([temp, xdg], user_files)
    started = time.monotonic()
    sampler.start()
    done = subprocess.run([sys.executable, "-m", "onnx_package.cli", "--model-source", "local", "--model-path",
                           str(model), "--labels", "negative,positive", "--base-image", BASE_IMAGE,
                           "--images", repository, "--tags", "bench"],
                          env=environ, cwd=work, capture_output=True, text=True, timeout=1800)  # fmt: skip
    seconds = time.monotonic() - started
    sampler.done.set()
    sampler.join()
    if done.returncode != 0:
        raise SystemExit(f"{name}: the run failed:\n{done.stderr[-3000:]}")
    outputs = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    image = client.images.get(outputs["image-id"])
    layers = int(image.attrs["Size"]) - int(client.images.get(BASE_IMAGE).attrs["Size"])
    left = unique_bytes([temp], user_files)
    client.images.remove(image.id, force=True)  # the next run loads its layers anew
    deps = unique_bytes([xdg / "onnx-package" / "deps"], set())
    return {
        "name": name,
        "src": str(src),
        "seconds": round(seconds, 1),
        "runner_peak_mb": round(sampler.runner_peak / MB),
        "deps_mb": round(deps / MB),
        "engine_tmp_peak_mb": round(sampler.engine_peak / MB),
        "image_layers_mb": round(layers / MB),
        "left_after_mb": round(left / MB, 1),
    }


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--compare", type=Path, help="another checkout's src/ folder, run first")
    cli.add_argument("--model-dir", type=Path, default=ROOT / ".bench" / "roberta")
    cli.add_argument(
        "--wheels",
        type=Path,
        default=Path.home() / ".cache" / "onnx-package" / "deps",
        help="the dependency cache to copy for each fresh runner",
    )
    cli.add_argument("--out", type=Path, default=ROOT / ".bench" / "disk_bench.json")
    args = cli.parse_args()
    model = roberta.make(args.model_dir)
    model_bytes = sum(p.stat().st_size for p in model.iterdir())
    runs = []
    with tempfile.TemporaryDirectory(prefix="disk-bench-") as tmp:
        work = Path(tmp)
        (work / "docker-config").mkdir()
        (work / "registry").mkdir()
        registry, url = start_registry(work / "registry")
        try:
            sources = ([("before", args.compare.resolve())] if args.compare else []) + [("after", ROOT / "src")]
            for name, src in sources:
                runs.append(one_run(name, src, model, url.split("://")[1], work, args.wheels))
                print(json.dumps(runs[-1]), flush=True)
        finally:
            registry.terminate()
            registry.wait(timeout=30)
    print(f"model: {model_bytes / MB:.0f} MB")
    print("| run | runner peak (work + cache) | deps cache | engine tmp peak | image layers | left after | s |")
    print("|---|---|---|---|---|---|---|")
    for run in runs:
        print(
            f"| {run['name']} | {run['runner_peak_mb']} MB ({run['runner_peak_mb'] * MB / model_bytes:.2f} x model) "
            f"| {run['deps_mb']} MB | {run['engine_tmp_peak_mb']} MB | {run['image_layers_mb']} MB "
            f"| {run['left_after_mb']} MB | {run['seconds']} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model_mb": round(model_bytes / MB), "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
