"""End to end: a model registered in the local Azure ML becomes a pushed image that answers /predict.

The CLI runs as a user runs it (a subprocess), with each kind of login; only the environment
(proxy, CA bundle) and the inputs point it at the local servers.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest

from amlstub.helpers import sdk_auth
from amlstub.world import SUBSCRIPTION, TENANT, AzureWorld
from cli_runs import run_cli, serve
from models import make_tabular_classifier, tabular_rows

pytestmark = pytest.mark.engine

CLIENT, SECRET = "e2e-app", "e2e-Secret~value"


def register(azure: AzureWorld, source: str, model: Path) -> list[str]:
    """Versions 1 and 2 of `wine` in a workspace or a registry; returns the CLI's location flags."""
    if source == "registry":
        registry = azure.add_registry("shared-models")
        for version in ("1", "2"):
            azure.register_registry_model(registry, "wine", version, model)
        return ["--registry-name", "shared-models"]
    workspace = azure.add_workspace()
    for version in ("1", "2"):
        azure.register_workspace_model(workspace, "wine", version, model)
    return ["--subscription-id", SUBSCRIPTION, "--resource-group", "rg", "--workspace", "ws"]


def login(azure: AzureWorld, kind: str) -> tuple[list[str], dict[str, str]]:
    """The flags and environment of an OIDC login or of the azure-credentials secret."""
    if kind == "oidc":
        azure.add_app(CLIENT, federated=True)
        return ["--client-id", CLIENT, "--tenant-id", TENANT], {
            "ACTIONS_ID_TOKEN_REQUEST_URL": "https://pipelines.actions.githubusercontent.com/github/idtoken?x=1",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": azure.state.github_request_token,
        }
    azure.add_app(CLIENT, secret=SECRET)
    return [], {"INPUT_AZURE_CREDENTIALS": sdk_auth(CLIENT, SECRET)}


# DefaultAzureCredential runs end to end in test_azureml (the pipeline after the fetch is the same).
@pytest.mark.parametrize(("source", "kind"), [("workspace", "client-secret"), ("registry", "oidc")])
def test_registered_model_becomes_a_pushed_image(
    source, kind, azure, tmp_path, registry, base_image, docker_client, docker_cleanup
):
    model = make_tabular_classifier(tmp_path / "wine")
    where = register(azure, source, model)
    flags, env = login(azure, kind)
    rows = tabular_rows("wine", 3)
    repo = f"{registry.host}/{docker_cleanup.prefix}/wine"
    run = run_cli(
        tmp_path,
        *where,
        *flags,
        "--model-name",
        "wine",
        "--model-version",
        "latest",
        "--images",
        repo,
        "--base-image",
        base_image,
        "--sample",
        json.dumps({"data": rows}),
        env=env,
    )
    assert run.code == 0, run.stderr
    assert run.outputs["model-name"] == "wine" and run.outputs["model-version"] == "2"
    digest = run.outputs["digest"]
    assert json.loads(run.outputs["digests"]) == {f"{repo}:2": digest}
    assert SECRET not in run.stderr
    docker_client.images.remove(run.outputs["image-id"], force=True)
    ref = f"{repo}@{digest}"
    docker_client.images.pull(ref)
    docker_cleanup.image(ref)
    container, url = serve(docker_client, ref)
    try:
        answer = httpx.post(url + "/predict", json={"data": rows}, timeout=30).json()
    finally:
        container.remove(force=True)
    want = ort.InferenceSession(str(model / "model.onnx")).run(None, {"float_input": np.array(rows, np.float32)})[0]
    assert [item["label"] if isinstance(item, dict) else item for item in answer] == want.tolist()
