"""The runner's disk: a local model is hard-linked, never copied; layers are streamed, never stored; the work
folder goes when the run ends (kept with ONNX_PACKAGE_DEBUG); the user's files are never written."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from cli_runs import package_local, run_cli
from disk_usage import unique_bytes
from models import corrupt_model, make_external_data_model

pytestmark = pytest.mark.engine

SAMPLE_SECONDS = 0.02
MB = 1_000_000


class PeakBytes(threading.Thread):
    """Samples, until stopped, the most bytes the folder held at once in files that are not `theirs` (inodes)."""

    def __init__(self, folder: Path, theirs: set[tuple[int, int]]) -> None:
        super().__init__(daemon=True)
        self.folder, self.theirs, self.peak, self.done = folder, theirs, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(SAMPLE_SECONDS):  # ends with the run: stopped by __exit__
            self.peak = max(self.peak, self.bytes_now())

    def bytes_now(self) -> int:
        return unique_bytes([self.folder], self.theirs)

    def __enter__(self) -> PeakBytes:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.join(timeout=30)


def fingerprint(folder: Path) -> dict[str, tuple[str, int, int, int]]:
    """Each file's sha256, mtime, mode and link count."""
    return {
        path.name: (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            path.stat().st_mtime_ns,
            path.stat().st_mode,
            path.stat().st_nlink,
        )
        for path in folder.iterdir()
    }


def inodes(folder: Path) -> set[tuple[int, int]]:
    return {(path.stat().st_dev, path.stat().st_ino) for path in folder.iterdir()}


def test_a_local_model_costs_no_second_copy_and_the_work_folder_goes(tmp_path, base_image, docker_client):
    model = make_external_data_model(tmp_path / "user-model", megabytes=20)
    (model / "model.onnx").chmod(0o444)  # a user's read-only input
    before = fingerprint(model)
    with PeakBytes(tmp_path / ".onnx-package", inodes(model)) as peak:
        run = package_local(tmp_path, model, push="false", tags="disk", base_image=base_image)
    assert run.code == 0, run.stderr
    docker_client.images.remove(run.outputs["image-id"], force=True)
    print(f"peak new bytes in the work folder: {peak.peak} (the model: 20 MB)")
    # The server code and serve.json are new; the model's 20 MB and the layer tars are not.
    assert peak.peak < 2 * MB, peak.peak
    assert not (tmp_path / ".onnx-package").exists(), "the work folder outlived the run"
    assert fingerprint(model) == before  # the links are gone, the files untouched
    assert "hard-linked" not in run.stderr  # same file system: nothing was copied


def test_the_work_folder_goes_after_a_failure_and_stays_when_debugging(tmp_path, base_image):
    model = corrupt_model(tmp_path / "corrupt")
    args = ("--model-source", "local", "--model-path", str(model), "--push", "false", "--base-image", base_image)
    run = run_cli(tmp_path, *args)
    assert run.code == 1 and "model.onnx is not a valid ONNX model" in run.stderr, run.stderr
    assert not (tmp_path / ".onnx-package").exists(), "the work folder outlived the failed run"

    run = run_cli(tmp_path, *args, env={"ONNX_PACKAGE_DEBUG": "1"})
    assert run.code == 1, run.stderr
    work = tmp_path / ".onnx-package"
    assert (work / "source" / "model.onnx").is_file()
    assert f"work folder kept for debugging: {work}" in run.stderr, run.stderr
