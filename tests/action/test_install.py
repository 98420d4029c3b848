"""What the action installs is what the code imports: the isolated venv gets only pyproject's dependencies."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import PackageNotFoundError, packages_distributions, requires

import tomllib
from packaging.requirements import Requirement

from action.act_helpers import ROOT

OWN = {"onnx_package", "onnx_serve"}


def imported_modules() -> set[str]:
    """Top-level names imported anywhere in src/ (lazy imports inside functions too)."""
    names: set[str] = set()
    for path in (ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names - OWN - set(sys.stdlib_module_names)


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_closure() -> set[str]:
    """Distributions pip installs for pyproject's dependencies (with their extras), as installed here."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(text) for text in project["dependencies"]]
    seen: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = normalized(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            children = [Requirement(text) for text in requires(requirement.name) or []]
        except PackageNotFoundError:
            continue
        for child in children:
            wanted = [{"extra": extra} for extra in requirement.extras] or [{"extra": ""}]
            if child.marker is None or any(child.marker.evaluate(env) for env in wanted):
                todo.append(child)
    return seen


def test_every_import_in_src_comes_with_the_declared_dependencies():
    providers = packages_distributions()
    closure = dependency_closure()
    missing = {module: providers.get(module, ["?"]) for module in imported_modules()
               if not any(normalized(dist) in closure for dist in providers.get(module, []))}
    assert not missing, f"imported but not installed by pyproject's dependencies: {missing}"
