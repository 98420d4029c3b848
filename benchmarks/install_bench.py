"""Cold and warm install of the action's runner environment, in one run (issue 12's numbers).

    python benchmarks/install_bench.py [--skip-baseline]

- baseline: what the action did before the locks: a fresh venv, `pip install <action dir>` (open ranges,
  resolved on the runner), no pip cache;
- locked, uv: scripts/install-action.sh into an empty tool cache with an empty uv cache, no pip cache;
- locked, pip: the same lock installed by pip alone (the fallback when uv cannot be had), no cache;
- warm: scripts/install-action.sh again (the tool cache hit a restored actions/cache gives).
Each run downloads everything from the index: the times are network + install on this machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NO_CACHE = {"PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


def fresh_venv(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    return folder / "bin" / "python"


def baseline(work: Path) -> float:
    python = fresh_venv(work / "baseline")
    return timed([str(python), "-m", "pip", "install", "--quiet", str(ROOT)], NO_CACHE)


def locked_pip(work: Path) -> float:
    python = fresh_venv(work / "pip")
    return timed(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--require-hashes",
            "--no-deps",
            "-r",
            str(ROOT / "requirements" / "runner.txt"),
        ],
        NO_CACHE,
    )


def locked_uv(work: Path) -> tuple[float, float]:
    env = {
        **NO_CACHE,
        "RUNNER_TOOL_CACHE": str(work / "tool-cache"),
        "UV_CACHE_DIR": str(work / "uv-cache"),
        "GITHUB_OUTPUT": str(work / "output"),
        "ONNX_PACKAGE_PYTHON": sys.executable,
    }
    script = ["bash", str(ROOT / "scripts" / "install-action.sh")]
    return timed(script, env), timed(script, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="install-bench-") as tmp:
        work = Path(tmp)
        cold_uv, warm = locked_uv(work)
        pip_locked = locked_pip(work)
        old = None if args.skip_baseline else baseline(work)
    print(f"locked, uv (cold):        {cold_uv:6.1f} s")
    print(f"locked, pip (cold):       {pip_locked:6.1f} s")
    print(f"warm (tool cache hit):    {warm:6.1f} s")
    if old is not None:
        print(f"baseline pip install .:   {old:6.1f} s")
        print(f"locked uv / baseline:     {cold_uv / old:6.1%}  (target <= 25 %)")


if __name__ == "__main__":
    main()
