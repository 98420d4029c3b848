"""Reproducible layers and image config: the same files give the same bytes, whatever the disk says."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from onnx_package.errors import BuildError
from onnx_package.image.build import ENV, image_config
from onnx_package.image.layers import Layer, entries, measure_layer, sent, tar_stream


def tar_bytes(folder: Path) -> bytes:
    return b"".join(tar_stream(folder, "/opt/onnx-serve/deps"))


def make_tree(root: Path, mtime: int, private: bool) -> Path:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("x = 1\n")
    (root / "pkg" / "sub" / "lib.so").write_bytes(b"\x7fELF fake")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / ".complete").touch()  # the dependency cache's marker: never in the image
    (root / "run.sh").chmod(0o700 if private else 0o775)
    (root / "pkg" / "__init__.py").chmod(0o600 if private else 0o664)
    for path in [root, *root.rglob("*")]:
        os.utime(path, (mtime, mtime))
    return root


def test_the_same_files_give_the_same_layer_whatever_their_times_modes_and_folder(tmp_path):
    one = measure_layer(make_tree(tmp_path / "a", 1_000_000, private=True), "/opt/onnx-serve/deps", "COPY deps/")
    two = measure_layer(
        make_tree(tmp_path / "elsewhere" / "b", 2_000_000, private=False), "/opt/onnx-serve/deps", "COPY deps/"
    )
    assert one.diff_id == two.diff_id and tar_bytes(one.folder) == tar_bytes(two.folder)
    made = tar_bytes(one.folder)
    assert one.size == len(made) and one.diff_id == f"sha256:{hashlib.sha256(made).hexdigest()}"
    (tmp_path / "a" / "pkg" / "__init__.py").write_text("x = 2\n")
    three = measure_layer(tmp_path / "a", "/opt/onnx-serve/deps", "COPY deps/")
    assert three.diff_id != one.diff_id


def test_the_streamed_layer_is_the_tar_tarfile_writes(tmp_path):
    """Byte for byte tarfile's "w|" PAX stream, as the layers were before they were streamed: the same model and
    locks keep the same image id across this change. A long name needs a PAX header, a 10 kB file padding."""
    folder = make_tree(tmp_path / "a", 1_000_000, private=True)
    (folder / ("long-name-" * 12)).write_bytes(os.urandom(10_000))
    written = io.BytesIO()
    with tarfile.open(fileobj=written, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for info, path in entries(folder, "/opt/onnx-serve/deps"):
            if path is None:
                tar.addfile(info)
            else:
                with path.open("rb") as content:
                    tar.addfile(info, content)
    assert tar_bytes(folder) == written.getvalue()


def test_a_file_that_changes_before_the_layer_is_sent_stops_the_stream(tmp_path):
    folder = make_tree(tmp_path / "a", 1_000_000, private=True)
    layer = measure_layer(folder, "/opt/onnx-serve/deps", "COPY deps/")
    assert b"".join(sent(layer)) == tar_bytes(folder)
    (folder / "run.sh").write_text("#!/bin/bash\n")  # same size, other bytes
    with pytest.raises(BuildError, match="changed while the image was assembled"):
        b"".join(sent(layer))


def test_a_layer_is_sorted_root_owned_timeless_and_readable_by_anyone(tmp_path):
    folder = make_tree(tmp_path / "a", 1_000_000, private=True)
    with tarfile.open(fileobj=io.BytesIO(tar_bytes(folder))) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == [
        "opt/onnx-serve",
        "opt/onnx-serve/deps",
        "opt/onnx-serve/deps/pkg",
        "opt/onnx-serve/deps/pkg/__init__.py",
        "opt/onnx-serve/deps/pkg/sub",
        "opt/onnx-serve/deps/pkg/sub/lib.so",
        "opt/onnx-serve/deps/run.sh",
    ]
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", 0)}
    modes = {m.name.rsplit("/", 1)[-1]: m.mode for m in members}
    assert modes["run.sh"] == 0o755 and modes["__init__.py"] == 0o644 and modes["sub"] == 0o755


BASE = {
    "architecture": "arm64",
    "variant": "v8",
    "os": "linux",
    "created": "2026-11-30T15:38:46Z",
    "config": {
        "Env": ["PATH=/usr/bin:/bin", "PYTHONPATH=/base"],
        "Cmd": ["/bin/bash"],
        "Labels": {"base.label": "kept", "org.opencontainers.image.version": "base"},
        "ExposedPorts": {"22/tcp": {}},
    },
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "b" * 64]},
    "history": [{"created": "2026-11-30T15:38:46Z", "created_by": "base"}],
}


def test_the_config_is_the_base_with_the_server_on_top_and_no_clock(tmp_path):
    layers = [Layer(tmp_path / n, f"/opt/{n}", f"sha256:{n * 64}", 0, f"COPY {n}") for n in ("1", "2", "3")]
    raw = image_config(BASE, layers, {"org.opencontainers.image.version": "7"}, 1700000000)
    assert raw == image_config(BASE, layers, {"org.opencontainers.image.version": "7"}, 1700000000)
    config = json.loads(raw)
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert (config["architecture"], config["variant"]) == ("arm64", "v8")
    run = config["config"]
    assert run["Env"] == ["PATH=/usr/bin:/bin", *(f"{k}={v}" for k, v in ENV.items())]  # ours replace the base's
    assert run["Cmd"] is None and run["Entrypoint"] == ["python3", "-m", "onnx_serve"]
    assert run["User"] == "10001:10001" and set(run["ExposedPorts"]) == {"22/tcp", "8080/tcp"}
    assert run["Labels"] == {"base.label": "kept", "org.opencontainers.image.version": "7"}
    assert config["rootfs"]["diff_ids"] == ["sha256:" + "b" * 64, *(layer.diff_id for layer in layers)]
    assert [h["created_by"] for h in config["history"]] == ["base", "COPY 1", "COPY 2", "COPY 3"]
    assert {h["created"] for h in config["history"][1:]} == {"2023-11-14T22:13:20Z"}
