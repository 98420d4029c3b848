"""The test bed itself: model factories, the base image, registries, pushes and cleanup."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import docker
import httpx
import numpy as np
import onnxruntime as ort
import pytest
from docker.errors import APIError, NotFound

from models import (
    corrupt_model,
    make_tabular_classifier,
    make_tabular_regressor,
    make_text_classifier,
    tabular_rows,
)

if TYPE_CHECKING:  # several conftest.py files share the module name: never import one at run time
    from testbed import DockerCleanup, Registry

TEST_LABEL = "org.onnx-package.test"

# ---------------------------------------------------------------- models


def _session(folder: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("zipmap", [False, True])
def test_tabular_classifier(tmp_path: Path, zipmap: bool) -> None:
    sess = _session(make_tabular_classifier(tmp_path, zipmap=zipmap))
    (inp,) = sess.get_inputs()
    assert (inp.name, inp.type, inp.shape) == ("float_input", "tensor(float)", [None, 13])
    rows = np.array(tabular_rows("wine", 3), dtype=np.float32)
    labels, probabilities = sess.run(None, {"float_input": rows})
    assert labels.tolist() == [0, 0, 0]  # the first wine rows are cultivar 0
    if zipmap:
        assert sorted(probabilities[0]) == [0, 1, 2]
    else:
        assert probabilities.shape == (3, 3)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


def test_tabular_regressor(tmp_path: Path) -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression

    sess = _session(make_tabular_regressor(tmp_path))
    x, y = load_diabetes(return_X_y=True)
    (out,) = sess.run(None, {"float_input": x[:5].astype(np.float32)})
    assert out.shape == (5, 1)
    expected = LinearRegression().fit(x.astype(np.float32), y).predict(x[:5].astype(np.float32))
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-3)


def test_factories_are_cached_and_deterministic(tmp_path: Path) -> None:
    first = (make_tabular_classifier(tmp_path / "a") / "model.onnx").read_bytes()
    assert (make_tabular_classifier(tmp_path / "b") / "model.onnx").read_bytes() == first


def test_corrupt_model(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"(?i)protobuf|parse|load"):
        _session(corrupt_model(tmp_path))


def _text_feed(folder: Path, texts: list[str], names: list[str], length: int | None = None) -> dict[str, np.ndarray]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]", length=length)
    encs = tok.encode_batch(texts)
    columns = {
        "input_ids": [e.ids for e in encs],
        "attention_mask": [e.attention_mask for e in encs],
        "token_type_ids": [e.type_ids for e in encs],
    }
    return {name: np.array(columns[name], dtype=np.int64) for name in names}


PROBES = ["Containers are good", "Containers are terrible", "honestly the registries were really awful"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kwargs", "output"),
    [
        ({}, "logits"),
        ({"inputs": ("input_ids",), "with_config": False}, "output"),
        ({"inputs": ("input_ids", "attention_mask"), "fixed_length": 16, "layers": 1}, "logits"),
    ],
    ids=["bert", "roberta-zoo", "fixed-length"],
)
def test_text_classifier(tmp_path: Path, kwargs: dict, output: str) -> None:
    folder = make_text_classifier(tmp_path, **kwargs)
    sess = _session(folder)
    names = [i.name for i in sess.get_inputs()]
    assert tuple(names) == kwargs.get("inputs", ("input_ids", "attention_mask", "token_type_ids"))
    assert all(i.type == "tensor(int64)" for i in sess.get_inputs())
    assert [o.name for o in sess.get_outputs()] == [output]

    fixed = kwargs.get("fixed_length")
    assert sess.get_inputs()[0].shape == ["batch", fixed or "sequence"]
    (logits,) = sess.run(None, _text_feed(folder, PROBES, names, fixed))  # one padded batch
    assert logits.shape == (3, 2)
    assert logits.argmax(axis=1).tolist() == [1, 0, 0]
    for text, expected in zip(PROBES[:2], [1, 0], strict=True):  # one at a time, no padding unless fixed
        (single,) = sess.run(None, _text_feed(folder, [text], names, fixed))
        assert single.argmax() == expected

    assert json.loads((folder / "tokenizer_config.json").read_text())["model_max_length"] == (fixed or 128)
    if kwargs.get("with_config", True):
        config = json.loads((folder / "config.json").read_text())
        assert config["id2label"] == {"0": "negative", "1": "positive"}
        assert config["label2id"] == {"negative": 0, "positive": 1}
    else:
        assert not (folder / "config.json").exists()


@pytest.mark.slow
def test_text_tokenizer_is_bert_style(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(make_text_classifier(tmp_path) / "tokenizer.json"))
    enc = tok.encode("Containers are good", "Kubernetes")
    assert enc.tokens[:5] == ["[CLS]", "containers", "are", "good", "[SEP]"]
    assert "[UNK]" not in enc.tokens  # unseen words fall back to characters
    assert enc.type_ids[:5] == [0] * 5 and set(enc.type_ids[5:]) == {1}


# ---------------------------------------------------------------- the engine and registries


@pytest.mark.engine
def test_base_image_runs_python(docker_client: docker.DockerClient, base_image: str) -> None:
    out = docker_client.containers.run(
        base_image,
        ["python3", "-c", "import ssl, venv, sys; print(sys.version_info[:2] >= (3, 11))"],
        remove=True,
        labels={TEST_LABEL: "1"},
        network_disabled=True,
    )
    assert out == b"True\n"


@pytest.mark.engine
def test_registries_answer(registry: Registry, auth_registry: Registry, tls_registry: Registry) -> None:
    assert httpx.get(f"{registry.url}/v2/", timeout=10).status_code == 200

    assert httpx.get(f"{auth_registry.url}/v2/", timeout=10).status_code == 401
    assert httpx.get(f"{auth_registry.url}/v2/", auth=("tester", "wrong"), timeout=10).status_code == 401
    with auth_registry.http() as client:
        assert client.get("/v2/").status_code == 200

    assert tls_registry.url.startswith("https://")
    with tls_registry.http() as client:
        assert client.get("/v2/").status_code == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{tls_registry.url}/v2/", timeout=10)  # the system CAs do not know the test CA


def _push(client: docker.DockerClient, repo: str, tag: str, auth_config: dict[str, str] | None = None) -> str:
    """Push with the docker SDK; return the digest docker reported."""
    digest = None
    for event in client.images.push(repo, tag, auth_config=auth_config, stream=True, decode=True):
        if "error" in event:
            raise APIError(event["error"])
        digest = event.get("aux", {}).get("Digest", digest)
    assert digest, "docker reported no digest"
    return digest


@pytest.mark.engine
@pytest.mark.parametrize("which", ["registry", "auth_registry", "tls_registry"])
def test_push_lands_with_the_reported_digest(
    request: pytest.FixtureRequest,
    which: str,
    docker_client: docker.DockerClient,
    docker_cleanup: DockerCleanup,
    tiny_image: Callable[[str], str],
) -> None:
    reg: Registry = request.getfixturevalue(which)
    repo = f"{reg.host}/{docker_cleanup.prefix}/tiny"
    tiny_image(f"{repo}:v1")
    assert reg.manifest_digest(f"{docker_cleanup.prefix}/tiny", "v1") is None
    digest = _push(docker_client, repo, "v1", reg.auth_config)
    assert digest.startswith("sha256:")
    assert reg.manifest_digest(f"{docker_cleanup.prefix}/tiny", "v1") == digest


@pytest.mark.engine
def test_auth_registry_docker_config(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    auth_registry: Registry,
    docker_client: docker.DockerClient,
    docker_cleanup: DockerCleanup,
    tiny_image: Callable[[str], str],
) -> None:
    repo = f"{auth_registry.host}/{docker_cleanup.prefix}/login"
    tiny_image(f"{repo}:v1")
    with pytest.raises(APIError, match=r"(?i)no basic auth credentials|unauthorized|authentication required"):
        _push(docker_client, repo, "v1")

    config = json.loads((auth_registry.write_docker_config(tmp_path / "docker") / "config.json").read_text())
    assert list(config["auths"]) == [auth_registry.host]
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    logged_in = docker.from_env()  # the SDK reads DOCKER_CONFIG's config.json when created
    try:
        digest = _push(logged_in, repo, "v1")
    finally:
        logged_in.close()
    assert auth_registry.manifest_digest(f"{docker_cleanup.prefix}/login", "v1") == digest


@pytest.mark.engine
def test_docker_cleanup_removes_what_a_test_made(
    docker_client: docker.DockerClient, base_image: str, docker_cleanup: DockerCleanup
) -> None:
    image = f"{docker_cleanup.prefix}/img:1"
    docker_client.images.get(base_image).tag(image)
    named = docker_client.containers.create(base_image, ["true"], name=f"{docker_cleanup.prefix}-c")
    labelled = docker_client.containers.create(base_image, ["true"], labels={TEST_LABEL: "1"})
    docker_cleanup.run()  # what the fixture does at teardown
    with pytest.raises(NotFound):
        docker_client.images.get(image)
    for container in (named, labelled):
        with pytest.raises(NotFound):
            docker_client.containers.get(container.id)
    docker_client.images.get(base_image)  # untouched
