"""onnx_serve imports only the stdlib and what its lock pins; the lock pins exact versions with hashes."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import onnx_serve
from locks import GRPC_LOCK, SERVE_LOCK, entries, pins
from onnx_serve.metrics import Metrics
from onnx_serve.spec import ServeSpec

PACKAGE = Path(onnx_serve.__file__).parent
ALLOWED = {  # top-level module -> distribution, as docs/ARCHITECTURE.md allows
    "onnxruntime": "onnxruntime",
    "numpy": "numpy",
    "tokenizers": "tokenizers",
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "prometheus_client": "prometheus-client",
    "orjson": "orjson",
}
GRPC_ONLY = {"grpc": "grpcio", "google": "protobuf"}  # onnx_serve/grpc_api only: in the image with `grpc: true`
NOT_IN_THE_IMAGE = {"fastapi", "pydantic", "watchfiles", "websockets", "python-dotenv", "huggingface-hub", "torch"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def locked() -> dict[str, str]:
    return pins(SERVE_LOCK)


def test_the_server_imports_only_the_stdlib_and_its_runtime():
    grpc_api = PACKAGE / "grpc_api"
    modules = set().union(*(imported_modules(p) for p in PACKAGE.rglob("*.py") if grpc_api not in p.parents))
    third_party = modules - set(sys.stdlib_module_names) - {"onnx_serve"}
    assert third_party <= set(ALLOWED), f"onnx_serve may not import {sorted(third_party - set(ALLOWED))}"
    assert {ALLOWED[m] for m in third_party} <= set(locked()), "every import must be pinned in the lock"


def test_the_grpc_endpoint_imports_only_what_its_own_lock_adds():
    modules = set().union(*(imported_modules(p) for p in (PACKAGE / "grpc_api").rglob("*.py")))
    third_party = modules - set(sys.stdlib_module_names) - {"onnx_serve"} - set(ALLOWED)
    assert third_party <= set(GRPC_ONLY), sorted(third_party - set(GRPC_ONLY))
    assert {GRPC_ONLY[m] for m in third_party} <= set(pins(GRPC_LOCK)), "pinned in requirements-grpc.txt"


def test_the_lock_pins_the_runtime_and_no_development_extras():
    image = locked()
    assert {"httptools", "uvloop", "anyio", "h11", "click"} <= set(image)
    assert not NOT_IN_THE_IMAGE & set(image)


def test_every_pin_of_the_image_is_exact_and_hash_checked():
    for requirement, hashes in entries(SERVE_LOCK):
        assert str(requirement.specifier).startswith("=="), requirement
        assert hashes and all(h.startswith("sha256:") for h in hashes), f"{requirement.name} has no hashes"


def test_the_runner_answers_with_the_numerics_of_the_image():
    """The packager's smoke test runs here; the container check compares the image's answer with it."""
    image = locked()
    for dist in ("onnxruntime", "numpy", "tokenizers"):
        assert version(dist) == image[dist], f"{dist}: {version(dist)} here, {image[dist]} in the image"


# --- what is (not) imported on the way to ready: deferred on purpose, see onnx_serve.loading ------


def imports_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The top-level modules a fresh interpreter holds after running `code`."""
    script = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    environ = {**os.environ, "PYTHONPATH": str(PACKAGE.parent), **(env or {})}
    done = subprocess.run([sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_the_session_can_be_created_before_the_tokenizer_and_the_http_stack_are_imported():
    """`python -m onnx_serve` starts the session after importing only onnx_serve.runtime (onnxruntime and
    numpy); the tokenizer and the HTTP stack are imported while the session is created."""
    heavy = {"numpy", "onnxruntime", "tokenizers", "starlette", "uvicorn"}
    assert not heavy & imports_after("import onnx_serve.loading")
    imported = imports_after("import onnx_serve.runtime")
    assert "onnxruntime" in imported
    assert not {"tokenizers", "starlette", "uvicorn", "prometheus_client"} & imported


def test_prometheus_client_is_not_imported_on_the_way_to_ready(tmp_path):
    code = (
        "from pathlib import Path\n"
        "from onnx_serve.app import create_app\n"
        "from onnx_serve.server import serve\n"
        "from onnx_serve.settings import Settings\n"
        f"create_app(Settings(model_dir=Path({str(tmp_path)!r})))"
    )
    assert "prometheus_client" not in imports_after(code)


def test_the_server_runs_numpy_openblas_on_one_thread_unless_told_otherwise():
    """numpy's OpenBLAS thread pool costs ~50 ms of `import numpy`; the server does no BLAS work."""
    probe = "import onnx_serve.__main__, os\nprint(os.environ['OPENBLAS_NUM_THREADS'])"
    environ = {key: value for key, value in os.environ.items() if key != "OPENBLAS_NUM_THREADS"}
    for env, expected in (({}, "1"), ({"OPENBLAS_NUM_THREADS": "4"}, "4")):
        done = subprocess.run([sys.executable, "-c", probe], env={**environ, "PYTHONPATH": str(PACKAGE.parent), **env},
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.stdout.split()[:1] == [expected], done.stderr


def test_the_metrics_made_on_first_use_hold_what_was_recorded_before():
    metrics = Metrics()
    spec = ServeSpec(name="wine", version="3", sha256="ab" * 32, model_file="model.onnx", task="tabular")
    metrics.model_loaded(spec, 1.5)
    metrics.track_queue(lambda: 7.0)
    assert "_collectors" not in vars(metrics), "nothing made before the first request"
    metrics.observe_request("GET", "/v2/health/ready", 200, 0.001)
    text, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    for line in (
        "onnx_serve_model_load_seconds 1.5",
        "onnx_serve_queue_depth 7.0",
        'onnx_serve_requests_total{method="GET",route="/v2/health/ready",status="200"} 1.0',
        'onnx_serve_model_info{name="wine",sha256="' + "ab" * 32 + '",task="tabular",version="3"} 1.0',
    ):
        assert line in text.decode().splitlines(), line
