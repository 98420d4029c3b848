"""onnx_serve imports only the stdlib and what its lock pins; the lock pins exact versions with hashes."""

from __future__ import annotations

import ast
import sys
from importlib.metadata import version
from pathlib import Path

import onnx_serve
from locks import GRPC_LOCK, SERVE_LOCK, entries, pins

PACKAGE = Path(onnx_serve.__file__).parent
ALLOWED = {  # top-level module -> distribution, as docs/ARCHITECTURE.md allows
    "onnxruntime": "onnxruntime",
    "numpy": "numpy",
    "tokenizers": "tokenizers",
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "prometheus_client": "prometheus-client",
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
