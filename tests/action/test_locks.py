"""The locks: every package exact and hash-checked; the runner runs the image's numerics on every Python."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version

import pytest
from packaging.requirements import Requirement

from locks import GRPC_LOCK, KSERVE_LOCK, ROOT, RUNNER_LOCK, SERVE_LOCK, TEST_LOCK, UV_LOCK, entries, linux, pins

PYTHONS = ("3.11", "3.12", "3.13", "3.14")
MACHINES = ("x86_64", "aarch64")
SHARED_NUMERICS = ("onnxruntime", "numpy", "tokenizers")


@pytest.mark.parametrize(
    "lock", [SERVE_LOCK, GRPC_LOCK, RUNNER_LOCK, TEST_LOCK, UV_LOCK, KSERVE_LOCK], ids=lambda p: p.name
)
def test_every_requirement_is_an_exact_pin_with_hashes(lock):
    found = entries(lock)
    assert found, f"{lock} is empty"
    for requirement, hashes in found:
        assert len(requirement.specifier) == 1 and str(requirement.specifier).startswith("=="), requirement
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), requirement.name


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("machine", MACHINES)
def test_the_runner_gets_the_images_versions_on_every_python(python, machine):
    environment = linux(python, machine)
    image, runner = pins(SERVE_LOCK, environment), pins(RUNNER_LOCK, environment)
    for name in SHARED_NUMERICS:
        assert runner[name] == image[name], f"Python {python} {machine}: {name} {runner[name]} vs {image[name]}"
    differ = {name: (runner[name], image[name]) for name in image.keys() & runner.keys() if runner[name] != image[name]}
    assert not differ, f"the runner and the image lock different versions: {differ}"


def test_the_test_venv_is_the_runner_lock_plus_test_tools():
    runner, test = pins(RUNNER_LOCK, linux("3.11", "x86_64")), pins(TEST_LOCK, linux("3.11", "x86_64"))
    assert runner.keys() <= test.keys(), f"missing from test.txt: {sorted(runner.keys() - test.keys())}"
    assert {name: test[name] for name in runner} == runner


def test_the_runner_lock_covers_every_declared_dependency():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.sub(r"[-_.]+", "-", Requirement(text).name).lower() for text in declared}
    assert names <= pins(RUNNER_LOCK).keys(), sorted(names - pins(RUNNER_LOCK).keys())


def test_this_venv_runs_exactly_the_test_lock():
    """CI runs against the locks: what is installed here is what test.txt says."""
    wrong = {name: (version(name), pinned) for name, pinned in pins(TEST_LOCK).items() if version(name) != pinned}
    assert not wrong, f"installed vs locked: {wrong}; run scripts/setup-machine.sh"


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("machine", MACHINES)
def test_the_grpc_extras_agree_with_the_image_and_the_runner(python, machine):
    """pip installs both image locks at once; the generated open_inference_pb2.py needs the runner's protobuf."""
    environment = linux(python, machine)
    grpc, image, runner = (pins(lock, environment) for lock in (GRPC_LOCK, SERVE_LOCK, RUNNER_LOCK))
    assert {"grpcio", "protobuf"} <= grpc.keys()
    assert all(image[name] == grpc[name] for name in grpc.keys() & image.keys())
    assert grpc["protobuf"] == runner["protobuf"] and grpc["grpcio"] == pins(TEST_LOCK)["grpcio"]
