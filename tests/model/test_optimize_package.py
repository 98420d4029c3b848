"""End to end through the CLI: a golden set, optimize and quantize: int8 with its gate, real engine and registry."""

from __future__ import annotations

import json

import httpx
import pytest

from cli_runs import package_local, serve
from golden import golden_texts, make_tied_classifier, write_lines
from models import make_text_classifier

pytestmark = pytest.mark.engine

LABEL = "io.github.onnx-package.model."


def test_int8_text_model_with_a_golden_set_is_pushed_and_answers_as_checked(
    tmp_path, registry, base_image, docker_client, docker_cleanup
):
    model = make_text_classifier(tmp_path / "text", hidden=128)
    texts = golden_texts(240)
    samples = write_lines(
        tmp_path / "golden.jsonl",
        [{"request": [text]} for text in texts[:-2]]
        + [
            {"request": ["Containers are good"], "expected": {"positive": True}},
            {"request": ["Containers are terrible"], "expected": {"positive": False}},
        ],
    )
    repo = f"{docker_cleanup.prefix}/int8"
    run = package_local(
        tmp_path,
        model,
        images=f"{registry.host}/{repo}",
        tags="v1",
        base_image=base_image,
        samples=samples,
        quantize="int8",
    )
    assert run.code == 0, run.stderr
    log = run.stderr
    print(log)  # the measured numbers, in the test's output
    assert "optimized model served" in log and "int8 model served" in log and "of 240 class decisions" in log, log
    assert "100 of 240 answers match the runner's" in log, log
    digest = run.outputs["digest"]
    assert registry.manifest_digest(repo, "v1") == digest
    labels = docker_client.images.get(run.outputs["image-id"]).labels
    assert labels[LABEL + "sha256"] == run.outputs["model-sha256"] != labels[LABEL + "served-sha256"]

    ref = f"{registry.host}/{repo}@{digest}"
    docker_client.images.remove(run.outputs["image-id"], force=True)
    docker_client.images.pull(ref)
    docker_cleanup.image(ref)
    container, url = serve(docker_client, ref)
    try:
        answers = [
            httpx.post(url + "/predict", json=[text], timeout=30).json()
            for text in ("Containers are good", "Containers are terrible")
        ]
        served = json.loads(container.exec_run(["cat", "/opt/onnx-serve/model/serve.json"]).output)
    finally:
        container.remove(force=True)
    assert answers == [{"positive": True}, {"positive": False}]
    assert served["sha256"] == run.outputs["model-sha256"]
    assert served["served_sha256"] == labels[LABEL + "served-sha256"]


def test_int8_below_the_gate_stops_before_the_build_with_the_numbers(tmp_path, registry, base_image, docker_cleanup):
    import numpy as np

    model = make_tied_classifier(tmp_path / "tied")
    rows = np.random.default_rng(1).normal(size=(200, 64)).round(4).tolist()
    samples = write_lines(tmp_path / "golden.jsonl", [{"data": rows[i : i + 10]} for i in range(0, 200, 10)])
    repo = f"{docker_cleanup.prefix}/tied"
    run = package_local(
        tmp_path,
        model,
        images=f"{registry.host}/{repo}",
        tags="v1",
        base_image=base_image,
        samples=samples,
        quantize="int8",
    )
    assert run.code == 1, run.stderr
    [error] = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    print(error)
    assert "Quality gate failed" in error and "of 200 class decisions" in error and "Fix:" in error, error
    assert "Traceback" not in run.stderr and "==> Build image" not in run.stderr
    assert run.outputs == {} and registry.manifest_digest(repo, "v1") is None
