"""onnx_serve imports only the stdlib and what requirements.lock pins; the lock pins exact versions."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import version
from pathlib import Path

import onnx_serve

PACKAGE = Path(onnx_serve.__file__).parent
LOCK = PACKAGE / "requirements.lock"
ALLOWED = {  # top-level module -> distribution, as docs/ARCHITECTURE.md allows
    "onnxruntime": "onnxruntime",
    "numpy": "numpy",
    "tokenizers": "tokenizers",
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "prometheus_client": "prometheus-client",
}
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
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][0-9A-Za-z.+!-]*)", line)
            assert match, f"not an exact pin: {line!r}"
            pins[match[1].lower().replace("_", "-")] = match[2]
    return pins


def test_the_server_imports_only_the_stdlib_and_its_runtime():
    modules = set().union(*(imported_modules(p) for p in PACKAGE.rglob("*.py")))
    third_party = modules - set(sys.stdlib_module_names) - {"onnx_serve"}
    assert third_party <= set(ALLOWED), f"onnx_serve may not import {sorted(third_party - set(ALLOWED))}"
    assert {ALLOWED[m] for m in third_party} <= set(locked()), "every import must be pinned in requirements.lock"


def test_the_lock_pins_the_runtime_and_no_development_extras():
    pins = locked()
    assert {"httptools", "uvloop", "anyio", "h11", "click"} <= set(pins)
    assert not NOT_IN_THE_IMAGE & set(pins)


def test_the_runner_answers_with_the_numerics_of_the_image():
    """The packager's smoke test runs here; the container check compares the image's answer with it."""
    pins = locked()
    for dist in ("onnxruntime", "numpy", "tokenizers"):
        assert version(dist) == pins[dist], f"{dist}: {version(dist)} here, {pins[dist]} in the image"
