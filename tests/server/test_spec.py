"""serve.json has one definition: ServeSpec writes what read_spec reads, in the documented key order."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from onnx_serve.spec import ServeSpec, read_spec

KEYS = ["schema", "name", "version", "sha256", "model_file", "task", "labels", "max_length"]  # docs/ARCHITECTURE.md


def test_what_the_packager_writes_the_server_reads_back(tmp_path: Path) -> None:
    text = ServeSpec(
        name="s", version="3", task="text-classification", sha256="ab", labels=("neg", "pos"), max_length=128
    )
    served = replace(text, served_sha256="cd")
    for spec in (text, served):
        spec.write(tmp_path)
        assert read_spec(tmp_path) == spec
    assert list(served.to_json()) == [*KEYS, "served_sha256"] and list(text.to_json()) == KEYS


def test_max_length_is_written_for_text_models_only(tmp_path: Path) -> None:
    path = ServeSpec(name="wine", version="1", task="tabular").write(tmp_path)
    assert path.read_text().endswith('"labels": null,\n  "max_length": null\n}\n')
    assert read_spec(tmp_path) == ServeSpec(name="wine", version="1", task="tabular")


def test_writing_replaces_a_hard_link_instead_of_writing_through_it(tmp_path: Path) -> None:
    users = tmp_path / "users-serve.json"
    users.write_text("{}")
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "serve.json").hardlink_to(users)
    ServeSpec(name="m", version="1", task="tensor").write(tmp_path / "bundle")
    assert users.read_text() == "{}"
