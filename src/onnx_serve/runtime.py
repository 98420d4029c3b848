"""onnxruntime session setup sized to the CPUs the container may use.

    threads = cpu_limit()                    # cgroup quota, else CPU affinity, else os.cpu_count()
    session = create_session(path, threads)
    spec, session = open_model(model_dir)    # serve.json and its session: onnxruntime's imports only

Reads cgroup v2 `cpu.max` or v1 `cpu.cfs_quota_us`, so a container limited to 2 CPUs on a
64-core node runs 2 intra-op threads, not 64.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
from pathlib import Path

import onnxruntime as ort

from .spec import ModelError, ServeSpec, read_spec

CGROUP = Path("/sys/fs/cgroup")


def cpu_limit(cgroup_root: Path = CGROUP) -> int:
    """Whole CPUs this process may use: the cgroup quota rounded up, capped by the affinity mask."""
    available = _affinity_count()
    quota = _cgroup_v2_quota(cgroup_root) or _cgroup_v1_quota(cgroup_root)
    if quota is None:
        return available
    return max(1, min(available, math.ceil(quota)))


def _affinity_count() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _cgroup_v2_quota(root: Path) -> float | None:
    """`cpu.max` holds "<quota> <period>" or "max <period>"."""
    fields = _read(root / "cpu.max").split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    return _ratio(fields[0], fields[1])


def _cgroup_v1_quota(root: Path) -> float | None:
    for folder in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        quota = _read(root / folder / "cpu.cfs_quota_us")
        if quota:
            return _ratio(quota, _read(root / folder / "cpu.cfs_period_us"))
    return None


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return ""


def session_options(threads: int) -> ort.SessionOptions:
    """One inference at a time using every allowed CPU; the batcher supplies the parallelism."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Intra-op threads spin between the operators of a run (waking a sleeping thread for each of a
    # transformer's hundreds of operators costs milliseconds), and stop spinning when the run ends,
    # leaving the CPU to the HTTP loop between runs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    options.log_severity_level = 3  # errors only: the server logs its own story
    return options


def create_session(model_path: Path, threads: int) -> ort.InferenceSession:
    ort.disable_telemetry_events()  # a served model never phones home
    return ort.InferenceSession(
        str(model_path), sess_options=session_options(threads), providers=["CPUExecutionProvider"]
    )


def open_model(model_dir: Path, threads: int | None = None) -> tuple[ServeSpec, ort.InferenceSession]:
    """serve.json and the session of its model (threads: the container's CPU quota by default).

    Needs onnxruntime (and numpy) only, not the tokenizer or the server: `python -m onnx_serve` starts
    this first, and imports the rest while the session is created (which releases the GIL).
    """
    spec = read_spec(model_dir)
    model_path = model_dir / spec.model_file
    if not model_path.is_file():
        raise ModelError(f"{model_path} does not exist (serve.json model_file={spec.model_file!r})")
    try:
        return spec, create_session(model_path, threads or cpu_limit())
    except Exception as e:  # onnxruntime's exceptions share no base class
        raise ModelError(f"onnxruntime cannot load {model_path}: {e}") from e


def release_free_memory() -> None:
    """Hand the heap that loading freed back to the OS (glibc; elsewhere a no-op).

    onnxruntime frees the parsed model and the weights it re-packed for its kernels, but glibc keeps
    the freed pages: for a 500 MB RoBERTa that is 200 MB of resident memory serving nothing.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)
