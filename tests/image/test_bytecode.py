"""The image's byte code, compiled by the base's own python3 through the engine's archive API."""

from __future__ import annotations

import pytest

from onnx_package.errors import BuildError
from onnx_package.image import bytecode

pytestmark = pytest.mark.engine

TRIXIE_IMAGE = "onnx-package-test/base:trixie"


def test_the_bases_python_writes_the_byte_code_beside_the_sources(docker_client, tmp_path):
    source = tmp_path / "app"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "mod.py").write_text("def f():\n    return 1\n")
    (source / "pkg" / "broken.py").write_text("def (:\n")  # a file that does not compile is left to import time
    bytecode.compile_in_base(docker_client, docker_client.images.get(TRIXIE_IMAGE).id, source, "/opt/x/app")
    assert sorted(p.name for p in (source / "pkg" / "__pycache__").iterdir()) == ["mod.cpython-313.pyc"]
    assert b"/opt/x/app/pkg/mod.py" in (source / "pkg" / "__pycache__" / "mod.cpython-313.pyc").read_bytes()
    assert not docker_client.containers.list(all=True, filters={"label": "io.github.onnx-package.bytecode"})


def test_a_python3_that_never_finishes_is_one_bounded_error(docker_client, docker_cleanup, tmp_path, monkeypatch):
    context = tmp_path / "hanging"
    context.mkdir()
    (context / "python3").write_text("#!/bin/sh\nexec sleep 3600\n")
    (context / "python3").chmod(0o755)
    (context / "Dockerfile").write_text(
        "FROM onnx-package-test/base:bookworm\nCOPY python3 /usr/local/bin/python3\nLABEL org.onnx-package.test=1\n"
    )
    tag = docker_cleanup.image(f"{docker_cleanup.prefix}-hanging:1")
    image, _ = docker_client.images.build(path=str(context), tag=tag, rm=True, pull=False)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "m.py").write_text("x = 1\n")
    monkeypatch.setattr(bytecode, "SECONDS", 3)
    with pytest.raises(BuildError, match="did not finish compiling the byte code in 3 s"):
        bytecode.compile_in_base(docker_client, image.id, tmp_path / "app", "/opt/x/app")
    assert not docker_client.containers.list(all=True, filters={"label": "io.github.onnx-package.bytecode"})
