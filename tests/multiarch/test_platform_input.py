"""The platforms input, ELF headers as the static check reads them, and the packages of several platforms."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from onnx_package.errors import SettingsError
from onnx_package.image.sbom import platform_packages
from onnx_package.multiarch.foreign import elf_header, interpreter
from onnx_package.multiarch.platforms import Platform, parse_platforms


def test_platforms_take_build_push_actions_syntax():
    assert parse_platforms(("linux/amd64,linux/arm64",)) == parse_platforms(("linux/amd64", "linux/arm64/v8"))
    assert [p.name for p in parse_platforms(("linux/arm64", "linux/amd64", "linux/arm64"))] == ["linux/arm64",
                                                                                             "linux/amd64"]
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


def report(path: Path, wheels: dict[str, tuple[str, str]]) -> Path:
    path.write_text(json.dumps({"install": [
        {"metadata": {"name": name, "version": version}, "download_info": {"archive_info": {"hashes": {"sha256": sha}}}}
        for name, (version, sha) in wheels.items()]}))
    return path


def test_a_pure_package_keeps_its_hash_and_a_compiled_one_names_each_platforms_wheel(tmp_path):
    amd64 = report(tmp_path / "amd64.json", {"numpy": ("2.4.6", "a" * 64), "starlette": ("0.50", "c" * 64)})
    arm64 = report(tmp_path / "arm64.json", {"numpy": ("2.4.6", "b" * 64), "starlette": ("0.50", "c" * 64)})
    numpy, starlette = platform_packages({"linux/amd64": amd64, "linux/arm64": arm64})
    assert (starlette.sha256, starlette.wheels) == ("c" * 64, ())
    assert numpy.sha256 == "" and numpy.wheels == (("linux/amd64", "a" * 64), ("linux/arm64", "b" * 64))
