"""Settings from ONNX_SERVE_* variables: defaults, parsing, refusals that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from onnx_serve.settings import Settings, SettingsError


def test_defaults():
    settings = Settings.from_env({})
    assert settings.model_dir == Path("/opt/onnx-serve/model") and settings.port == 8080
    assert settings.host == "0.0.0.0" and settings.max_queue_delay_ms == 0 and settings.threads is None


def test_every_variable_is_read():
    settings = Settings.from_env(
        {
            "PORT": "9000",
            "ONNX_SERVE_HOST": "127.0.0.1",
            "ONNX_SERVE_MODEL_DIR": "/models/x",
            "ONNX_SERVE_MAX_BATCH_SIZE": "8",
            "ONNX_SERVE_MAX_QUEUE_DELAY_MS": "2.5",
            "ONNX_SERVE_MAX_QUEUE_SIZE": "100",
            "ONNX_SERVE_MAX_REQUEST_ITEMS": "16",
            "ONNX_SERVE_MAX_BODY_BYTES": "1000",
            "ONNX_SERVE_THREADS": "3",
            "ONNX_SERVE_DRAIN_SECONDS": "5",
            "ONNX_SERVE_LOG_LEVEL": "DEBUG",
        }
    )
    assert settings == Settings(Path("/models/x"), "127.0.0.1", 9000, 8, 2.5, 100, 16, 1000, 3, 5, "debug")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "http", "is not a number"),
        ("ONNX_SERVE_MAX_BATCH_SIZE", "0", "must be at least 1"),
        ("ONNX_SERVE_MAX_QUEUE_DELAY_MS", "-1", "must be at least 0"),
        ("ONNX_SERVE_THREADS", "two", "is not a number"),
    ],
)
def test_bad_values_name_the_variable(name, value, message):
    with pytest.raises(SettingsError, match=f"{name}='{value}' {message}"):
        Settings.from_env({name: value})
