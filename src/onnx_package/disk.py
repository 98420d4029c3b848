"""The runner's disk: model files placed by hard link (a copy only when that cannot be), and a full disk.

A 4 GB model must not cost 20 GB: the model's bytes exist on the runner once (the user's file itself
for a local model, the download otherwise), the layers are streamed to the engine (image/layers.py), and the
work folder goes when the run ends (pipeline.py).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import DiskFullError, PackageError

log = logging.getLogger(__name__)

# Why os.link may refuse where a copy works: another file system, a file of another user under
# fs.protected_hardlinks, a file system without hard links, too many links to one file.
CANNOT_LINK = (errno.EXDEV, errno.EPERM, errno.EACCES, errno.EOPNOTSUPP, errno.EMLINK)
ENGINE_COPIES = 2  # `docker load` unpacks the archive into its temp folder, then stores each layer from it
MB = 1_000_000


@dataclass
class Placer:
    """Puts files in the work folder by hard link; counts what had to be copied, and why."""

    copied: int = 0  # bytes
    reason: str = ""

    def __call__(self, source: str | Path, dest: str | Path) -> None:
        """shutil.copytree's copy_function: a link shares the bytes; so nothing may ever open `dest` for writing
        (a new file replaces it instead, see `replace`)."""
        try:
            os.link(source, dest)
        except OSError as err:
            if err.errno not in CANNOT_LINK:
                raise
            shutil.copy2(source, dest)
            self.copied += Path(dest).stat().st_size
            self.reason = self.reason or os.strerror(err.errno)

    def report(self, what: str) -> None:
        if self.copied:
            log.warning(
                "%s could not be hard-linked into the work folder (%s): copied %.1f MB instead; put "
                "RUNNER_TEMP on the same file system to save the copy",
                what,
                self.reason,
                self.copied / MB,
            )


def replace(path: Path, text: str) -> None:
    """Write `path` as a new file: the name may be a hard link to a file of the user's."""
    path.unlink(missing_ok=True)
    path.write_text(text)


def folder_bytes(folder: Path) -> int:
    """What the files under `folder` (or the file itself) hold, each hard-linked file once."""
    if folder.is_file():
        return folder.stat().st_size
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in folder.rglob("*") if folder.is_dir() else []:
        stat = path.lstat()
        if path.is_file() and (stat.st_dev, stat.st_ino) not in seen:
            seen.add((stat.st_dev, stat.st_ino))
            total += stat.st_size
    return total


@dataclass
class Needs:
    """What the run knows of its sizes so far, for the fix of a full disk."""

    model: int = 0  # bytes of the model files (0 until fetched)
    deps: int = 150 * MB  # the serving dependencies, until measured in the cache

    def runner(self) -> int:
        """The work folder (the model once) and the dependency cache."""
        return self.model + self.deps

    def engine(self) -> int:
        """The engine's data root while it loads the image (the base image aside)."""
        return ENGINE_COPIES * (self.model + self.deps)

    def fix(self, workdir: Path) -> str:
        model = f"{gb(self.model)} model" if self.model else "the model's size"
        return (
            f"free about {gb(self.runner() + self.engine())} on the runner: this run needs {gb(self.runner())} in "
            f"{workdir.parent} and the dependency cache ({model} + {gb(self.deps)} of serving dependencies) and "
            f"{gb(self.engine())} in the Docker engine's data root ({ENGINE_COPIES} times both, while it loads the "
            "image); or set RUNNER_TEMP to a folder on a larger disk"
        )


def gb(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1000 * MB else f"{size / MB:.0f} MB"


def is_full(err: BaseException) -> bool:
    """ENOSPC or a quota, from the runner's file system, pip, or the engine ("no space left on device")."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(err).lower()
    return "no space left on device" in text or "disk quota exceeded" in text


def disk_full(err: BaseException, needs: Needs, workdir: Path) -> DiskFullError:
    cause = err.cause if isinstance(err, PackageError) else first_failure(err)
    return DiskFullError(f"no space left: {cause}", needs.fix(workdir))


def first_failure(err: BaseException) -> str:
    """One reason: shutil.copytree's Error lists every file that failed, the first says why."""
    failures = err.args[0] if isinstance(err, shutil.Error) and err.args else None
    if isinstance(failures, list) and failures and len(failures[0]) == 3:
        return str(failures[0][2])
    return str(err)
