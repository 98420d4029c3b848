"""The dependencies folder does not depend on where the runner keeps its Python."""

from __future__ import annotations

from onnx_package.image.context import drop_console_scripts


def test_console_scripts_and_their_record_lines_are_dropped(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "idna").write_text("#!/some/runner/venv/bin/python\n")
    record = tmp_path / "idna-3.20.dist-info" / "RECORD"
    record.parent.mkdir()
    record.write_text("idna/__init__.py,sha256=abc,10\n../../bin/idna,sha256=def,220\nidna-3.20.dist-info/RECORD,,\n")
    drop_console_scripts(tmp_path)
    assert not (tmp_path / "bin").exists()
    assert record.read_text() == "idna/__init__.py,sha256=abc,10\nidna-3.20.dist-info/RECORD,,\n"
