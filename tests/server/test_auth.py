"""API keys at run time: bearer keys from the environment or a mounted file, 401 with a challenge."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from onnx_serve.app import create_app
from onnx_serve.settings import Settings, SettingsError
from server_models import WINE_ROWS, serving

pytestmark = pytest.mark.anyio
OLD, NEW = "k-old-0123456789", "k-new-9876543210"
ROW = {"inputs": [{"name": "float_input", "datatype": "FP32", "shape": [1, 13], "data": WINE_ROWS[0]}]}
KEYED = [
    ("POST", "/predict", {"data": WINE_ROWS[:1]}),
    ("POST", "/score", {"data": WINE_ROWS[:1]}),
    ("GET", "/v2/models/wine", None),
    ("GET", "/v2/models/wine/ready", None),
    ("POST", "/v2/models/wine/infer", ROW),
    ("GET", "/v2/models/wine/versions/1", None),
    ("GET", "/v2/models/wine/versions/1/ready", None),
    ("POST", "/v2/models/wine/versions/1/infer", ROW),
]
OPEN = ["/v2/health/live", "/v2/health/ready", "/v2", "/v2/", "/openapi.json", "/metrics"]


def settings(**env: str) -> Settings:
    return Settings.from_env({"ONNX_SERVE_MODEL_DIR": "/nonexistent", **env})


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_both_keys_of_a_rotation_are_accepted_and_nothing_else(predictor):
    app = create_app(settings(ONNX_SERVE_API_KEYS=f"{OLD},\n{NEW}\n"), predictor=predictor("wine"))
    async with serving(app) as client:
        for method, path, body in KEYED:
            for key in (OLD, NEW):
                response = await client.request(method, path, json=body, headers=bearer(key))
                assert response.status_code == 200, (path, response.text)
            missing = await client.request(method, path, json=body)
            assert missing.status_code == 401 and missing.headers["www-authenticate"] == 'Bearer realm="onnx-serve"'
            assert "needs an API key" in missing.json()["error"]
            for wrong in ({"Authorization": "Bearer k-old"}, {"Authorization": f"Basic {OLD}"}, bearer(OLD + "x")):
                refused = await client.request(method, path, json=body, headers=wrong)
                assert refused.status_code == 401, (path, wrong)
                assert refused.headers["www-authenticate"] == 'Bearer realm="onnx-serve", error="invalid_token"'
        for path in OPEN:
            assert (await client.get(path)).status_code == 200, path


async def test_a_refused_call_is_refused_before_its_body_is_read(predictor):
    app = create_app(settings(ONNX_SERVE_API_KEYS=OLD), predictor=predictor("wine"))
    async with serving(app) as client:
        response = await client.post("/v2/models/wine/infer", content=b"not json", headers=bearer("nope"))
    assert response.status_code == 401


async def test_metrics_keyed_by_its_own_setting(predictor):
    app = create_app(settings(ONNX_SERVE_API_KEYS=OLD, ONNX_SERVE_METRICS_KEYED="true"), predictor=predictor("wine"))
    async with serving(app) as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers=bearer(OLD))).status_code == 200
        assert (await client.get("/v2/health/ready")).status_code == 200


async def test_a_rotated_key_file_takes_effect_without_a_restart(predictor, tmp_path, caplog):
    caplog.set_level("INFO", logger="onnx_serve")
    keys = tmp_path / "keys"
    keys.write_text(f"{OLD}\n")
    app = create_app(settings(ONNX_SERVE_API_KEYS_FILE=str(keys)), predictor=predictor("wine"))
    async with serving(app) as client:
        assert (await client.post("/v2/models/wine/infer", json=ROW, headers=bearer(OLD))).status_code == 200
        _replace(keys, f"{OLD}\n{NEW}\n")  # as the kubelet swaps a Secret's files: a new file renamed over
        assert (await client.post("/v2/models/wine/infer", json=ROW, headers=bearer(NEW))).status_code == 200
        _replace(keys, f"{NEW}\n")
        assert (await client.post("/v2/models/wine/infer", json=ROW, headers=bearer(OLD))).status_code == 401
        assert (await client.post("/v2/models/wine/infer", json=ROW, headers=bearer(NEW))).status_code == 200
        keys.unlink()  # unreadable later: the last keys stay, the server does not fall open
        assert (await client.post("/v2/models/wine/infer", json=ROW)).status_code == 401
        assert (await client.post("/v2/models/wine/infer", json=ROW, headers=bearer(NEW))).status_code == 200
    assert "API keys: 2 read from" in caplog.text and OLD not in caplog.text and NEW not in caplog.text


def _replace(path: Path, text: str) -> None:
    staged = path.with_suffix(".new")
    staged.write_text(text)
    os.replace(staged, path)


def test_a_keys_file_that_cannot_serve_refuses_to_start(tmp_path):
    with pytest.raises(SettingsError, match=r"cannot be read .*mount the Secret there"):
        settings(ONNX_SERVE_API_KEYS_FILE=str(tmp_path / "missing"))
    (tmp_path / "empty").write_text("\n \n")
    with pytest.raises(SettingsError, match="holds no key; put one key per line"):
        settings(ONNX_SERVE_API_KEYS_FILE=str(tmp_path / "empty"))
    with pytest.raises(SettingsError, match="must be true or false"):
        settings(ONNX_SERVE_METRICS_KEYED="yes please")


def test_keys_never_show_in_the_settings_repr():
    configured = settings(ONNX_SERVE_API_KEYS=f"{OLD},{NEW}")
    assert configured.api_keys == (OLD, NEW) and OLD not in repr(configured) and NEW not in repr(configured)


def test_the_kubernetes_example_mounts_the_keys_the_server_reads():
    example = Path(__file__).resolve().parents[2] / "examples" / "kubernetes" / "api-keys.yaml"
    deployment = next(d for d in yaml.safe_load_all(example.read_text()) if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert "ONNX_SERVE_API_KEYS" not in env  # no key in the manifest
    keys_file = Path(env["ONNX_SERVE_API_KEYS_FILE"]["value"])
    [mount] = container["volumeMounts"]
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert keys_file.parent == Path(mount["mountPath"]) and mount["readOnly"] is True
    assert volume["secret"]["secretName"] and volume["secret"]["defaultMode"] & 0o040  # group-readable
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"] == 10001
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert "keys=" in example.read_text() and keys_file.name == "keys"  # the Secret's key names the file
