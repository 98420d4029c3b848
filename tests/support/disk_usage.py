"""Disk use as the runner sees it: bytes in distinct files (a hard link counts once), and small tmpfs disks."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def unique_bytes(folders: Iterable[Path], skip: set[tuple[int, int]] | frozenset[tuple[int, int]] = frozenset()) -> int:
    """Bytes in the files under `folders`, each inode once, leaving out the (device, inode) pairs in `skip`."""
    seen, total = set(skip), 0
    for folder in folders:
        for root, _, files in os.walk(folder):
            for name in files:
                try:
                    stat = os.lstat(os.path.join(root, name))
                except FileNotFoundError:  # removed while walking
                    continue
                if (stat.st_dev, stat.st_ino) not in seen:
                    seen.add((stat.st_dev, stat.st_ino))
                    total += stat.st_size
    return total


@contextmanager
def tmpfs(mount: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. 8m) at `mount`: another file system, and a small one. Unmounted after."""
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True, text=True, timeout=30
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True, timeout=30)
