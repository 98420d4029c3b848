"""Placing the model's files by hard link, writing beside links, and what a full disk says."""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from disk_usage import tmpfs
from onnx_package.disk import MB, Needs, Placer, disk_full, folder_bytes, is_full, replace
from onnx_package.errors import BuildError


@pytest.fixture
def other_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs: another file system than tmp_path's, where a hard link cannot reach."""
    with tmpfs(tmp_path / "other-disk", "4m") as mount:
        yield mount


def test_a_file_is_placed_by_hard_link_and_writing_beside_it_makes_a_new_file(tmp_path):
    theirs = tmp_path / "config.json"
    theirs.write_text('{"labels": 2}')
    theirs.chmod(0o444)
    place = Placer()
    place(theirs, tmp_path / "placed.json")
    assert (tmp_path / "placed.json").stat().st_ino == theirs.stat().st_ino and place.copied == 0
    replace(tmp_path / "placed.json", "{}")
    assert theirs.read_text() == '{"labels": 2}' and theirs.stat().st_nlink == 1
    assert (tmp_path / "placed.json").read_text() == "{}"


def test_across_file_systems_the_file_is_copied_and_the_log_says_so(tmp_path, other_disk, caplog):
    theirs = tmp_path / "weights.bin"
    theirs.write_bytes(b"w" * 1_000_000)
    place = Placer()
    place(theirs, other_disk / "weights.bin")
    assert (other_disk / "weights.bin").read_bytes() == theirs.read_bytes() and place.copied == 1_000_000
    with caplog.at_level(logging.WARNING):
        place.report("model-path /models/x")
    assert (
        "model-path /models/x could not be hard-linked into the work folder (Invalid cross-device link): "
        "copied 1.0 MB instead"
        in caplog.text
        and "RUNNER_TEMP" in caplog.text
    )


def test_the_fix_of_a_full_disk_gives_the_space_the_run_needs(tmp_path):
    needs = Needs(model=2_000 * MB, deps=180 * MB)
    engine = BuildError(
        "the engine refused the assembled image: write /var/lib/docker/tmp/x: no space left on device",
        "check the base image",
    )
    assert is_full(engine) and is_full(OSError(errno.ENOSPC, "No space left on device"))
    assert not is_full(BuildError("the engine refused the assembled image: unexpected EOF", "rerun"))
    err = disk_full(engine, needs, tmp_path / ".onnx-package")
    assert str(err) == (
        "no space left: the engine refused the assembled image: write /var/lib/docker/tmp/x: no space left on "
        f"device. Fix: free about 6.5 GB on the runner: this run needs 2.2 GB in {tmp_path} and the dependency "
        "cache (2.0 GB model + 180 MB of serving dependencies) and 4.4 GB in the Docker engine's data root "
        "(2 times both, while it loads the image); or set RUNNER_TEMP to a folder on a larger disk"
    )


def test_folder_bytes_counts_a_hard_linked_file_once(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 1000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").hardlink_to(tmp_path / "a")
    (tmp_path / "c").write_bytes(b"y" * 10)
    assert folder_bytes(tmp_path) == 1010 and folder_bytes(tmp_path / "c") == 10
