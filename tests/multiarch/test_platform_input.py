"""The platforms input, ELF headers as the static check reads them, and the packages of several platforms."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import onnxruntime
import pytest

from onnx_package.errors import ContainerCheckError, SettingsError
from onnx_package.image.sbom import platform_packages
from onnx_package.multiarch.foreign import Binary, check_statically, elf_header, interpreter, needed
from onnx_package.multiarch.platforms import Platform, parse_platforms


def test_platforms_take_build_push_actions_syntax():
    assert parse_platforms(("linux/amd64,linux/arm64",)) == parse_platforms(("linux/amd64", "linux/arm64/v8"))
    assert [p.name for p in parse_platforms(("linux/arm64", "linux/amd64", "linux/arm64"))] == [
        "linux/arm64",
        "linux/amd64",
    ]
    assert parse_platforms(("linux/arm64",))[0].machine == "aarch64"


@pytest.mark.parametrize("given", [(), ("",), ("linux/s390x",), ("windows/amd64",), ("amd64",)])
def test_a_platform_this_tool_cannot_build_is_refused_with_the_fix(given):
    with pytest.raises(SettingsError) as raised:
        parse_platforms(given)
    assert "linux/amd64,linux/arm64" in raised.value.fix


def test_the_runners_own_python_is_read_as_the_static_check_reads_a_base():
    """The runner's python3 is an ELF file of this CPU with glibc's loader: the same parser reads a foreign one."""
    data = Path(sys.executable).resolve().read_bytes()
    machine, _ = elf_header(data[:20]) or (None, None)
    assert machine == Platform("linux", "amd64").elf_machine  # this suite runs on amd64 runners
    assert "ld-linux" in interpreter(data)
    assert elf_header(b"#!/bin/sh\n" + bytes(20)) is None


def test_a_library_the_added_binaries_need_and_the_base_lacks_stops_the_static_check(tmp_path):
    """onnxruntime's real .so files need libstdc++ and glibc: found in the runner's library folders (standing in
    for a base's), the check passes; with libstdc++ gone from them, it stops and names it."""
    amd64 = Platform("linux", "amd64")
    deps = tmp_path / "deps"
    shutil.copytree(Path(onnxruntime.__file__).parent / "capi", deps, ignore=shutil.ignore_patterns("*.py*"))
    pybind = next(deps.glob("onnxruntime_pybind11_state*.so"))
    assert {"libstdc++.so.6", "libc.so.6"} <= set(needed(pybind.read_bytes()))
    assert needed(b"#!/bin/sh\n" + bytes(64)) == []
    python = Path(sys.executable).resolve()
    base_python = Binary(str(python), amd64.elf_machine, interpreter(python.read_bytes()))
    runner = {path.name for folder in ("/lib", "/usr/lib", "/usr/local/lib") for path in Path(folder).rglob("*")}
    no_wheels = tmp_path / "report.json"
    no_wheels.write_text(json.dumps({"install": []}))
    inspected = check_statically(amd64, base_python, [deps], no_wheels, runner, "3.11")
    assert inspected.elf_files == len(list(deps.glob("*.so*")))
    with pytest.raises(ContainerCheckError) as raised:
        check_statically(amd64, base_python, [deps], no_wheels, runner - {"libstdc++.so.6"}, "3.11")
    assert raised.value.cause.startswith("the base image linux/amd64 lacks libstdc++.so.6, which ")
    assert raised.value.fix == "use a base with it, e.g. python:3.11-slim"


def report(path: Path, wheels: dict[str, tuple[str, str]]) -> Path:
    path.write_text(
        json.dumps(
            {
                "install": [
                    {
                        "metadata": {"name": name, "version": version},
                        "download_info": {"archive_info": {"hashes": {"sha256": sha}}},
                    }
                    for name, (version, sha) in wheels.items()
                ]
            }
        )
    )
    return path


def test_a_pure_package_keeps_its_hash_and_a_compiled_one_names_each_platforms_wheel(tmp_path):
    amd64 = report(tmp_path / "amd64.json", {"numpy": ("2.4.6", "a" * 64), "starlette": ("0.50", "c" * 64)})
    arm64 = report(tmp_path / "arm64.json", {"numpy": ("2.4.6", "b" * 64), "starlette": ("0.50", "c" * 64)})
    numpy, starlette = platform_packages({"linux/amd64": amd64, "linux/arm64": arm64})
    assert (starlette.sha256, starlette.wheels) == ("c" * 64, ())
    assert numpy.sha256 == "" and numpy.wheels == (("linux/amd64", "a" * 64), ("linux/arm64", "b" * 64))
