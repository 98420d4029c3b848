"""model-source url against a local HTTPS file server (trusted through SSL_CERT_FILE only)."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from pathlib import Path

import pytest

from amlstub.files import Files
from amlstub.helpers import settings_for
from onnx_package.errors import ModelError, ModelSourceError, SettingsError
from onnx_package.sources import fetch

MODEL = bytes(range(256)) * 12_000  # 3 MB: several progress lines
SHA = hashlib.sha256(MODEL).hexdigest()


def url_settings(url: str, **values: str):
    return settings_for(model_source="url", model_url=url, **values)


def test_download_with_tokenizer(file_server: tuple[Files, str], tmp_path: Path, caplog) -> None:
    store, base = file_server
    store.files.update({"/releases/v3/sentiment.onnx": MODEL, "/releases/v3/tokenizer.json": b'{"model": {}}'})
    caplog.set_level(logging.INFO, logger="onnx_package")
    got = fetch(
        url_settings(
            f"{base}/releases/v3/sentiment.onnx?token=abc123",
            tokenizer_url=f"{base}/releases/v3/tokenizer.json",
            model_sha256=SHA,
        ),
        tmp_path / "m",
    )
    assert (got.name, got.version, got.model_file, got.sha256) == ("sentiment", SHA[:12], "sentiment.onnx", SHA)
    assert (got.folder / "tokenizer.json").read_bytes() == b'{"model": {}}'
    assert len(re.findall(r"sentiment\.onnx: \d+%, \d\.\d MB", caplog.text)) >= 2
    assert "abc123" not in caplog.text


def test_sha256_is_recorded_when_not_given(file_server: tuple[Files, str], tmp_path: Path, caplog) -> None:
    store, base = file_server
    store.files["/download"] = MODEL
    got = fetch(url_settings(f"{base}/download", model_name="sentiment", model_version="3"), tmp_path / "m")
    assert (got.name, got.version, got.model_file, got.sha256) == ("sentiment", "3", "model.onnx", SHA)
    assert f"set model-sha256: {SHA}" in caplog.text


def test_sha256_mismatch_stops(file_server: tuple[Files, str], tmp_path: Path) -> None:
    store, base = file_server
    store.files["/m.onnx"] = MODEL
    with pytest.raises(ModelError, match=f"sha256 of {base}/m.onnx is {SHA}, not the expected"):
        fetch(url_settings(f"{base}/m.onnx", model_sha256="ab" * 32), tmp_path / "m")


@pytest.mark.parametrize(("failures", "truncated"), [([503], 0), ([429], 0), ([], 1)])
def test_server_errors_and_cut_downloads_are_retried(
    file_server: tuple[Files, str], tmp_path: Path, failures: list[int], truncated: int
) -> None:
    store, base = file_server
    store.files["/m.onnx"] = MODEL
    store.failures.extend(failures)
    store.truncate_next = truncated  # the answer stops halfway
    got = fetch(url_settings(f"{base}/m.onnx"), tmp_path / "m")
    assert got.sha256 == SHA and len(store.requests) == 2


def test_persistent_server_errors_are_bounded(file_server: tuple[Files, str], tmp_path: Path, caplog) -> None:
    store, base = file_server
    store.files["/m.onnx"] = MODEL
    store.failures.extend([500] * 10)
    started = time.monotonic()
    with pytest.raises(ModelSourceError, match=r"failed 3 times \(last: 500") as caught:
        fetch(url_settings(f"{base}/m.onnx?sig=SECRETSIG"), tmp_path / "m")
    assert len(store.requests) == 3 and time.monotonic() - started < 10
    assert "SECRETSIG" not in str(caught.value) and "SECRETSIG" not in caplog.text


def test_not_found_is_not_retried(file_server: tuple[Files, str], tmp_path: Path) -> None:
    _, base = file_server
    with pytest.raises(ModelSourceError, match="answered 404") as caught:
        fetch(url_settings(f"{base}/missing.onnx"), tmp_path / "m")
    assert "model-url" in caught.value.fix


def test_untrusted_certificate(file_server: tuple[Files, str], tmp_path: Path, monkeypatch) -> None:
    store, base = file_server
    store.files["/m.onnx"] = MODEL
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent.pem")
    monkeypatch.setenv("SSL_CERT_DIR", "/nonexistent")
    with pytest.raises(ModelSourceError, match="is not trusted"):
        fetch(url_settings(f"{base}/m.onnx"), tmp_path / "m")
    assert store.requests == []


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"model_url": ""}, "model-source url needs model-url"),
        ({"model_url": "http://example.test/m.onnx"}, "model-url http://example.test/m.onnx is not an https URL"),
        (
            {"model_url": "https://example.test/m.onnx", "tokenizer_url": "ftp://example.test/t.json"},
            "tokenizer-url ftp://example.test/t.json is not an https URL",
        ),
    ],
)
def test_input_errors(tmp_path: Path, values: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError, match=expected):
        fetch(settings_for(model_source="url", **values), tmp_path / "m")
