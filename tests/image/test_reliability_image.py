"""One run of the GitHub edge (entrypoint.py, INPUT_* in) with a known secret in every credential input,
then the image it pushed: no secret anywhere, non-root, serving from a read-only root filesystem,
and nothing we added carries a compiler or a package cache.

The run packages a local text model whose tokenizer comes from the Hugging Face Hub cache (so HF_TOKEN is
in play), with azure-credentials set (unused by a local model, still masked) and registry-auth holding
the auth registry's real password (used for the build-cache lookup and the push).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import docker
import httpx
import pytest
from image_scan import files, names, raw, saved_image

from cli_runs import parse_github_output
from models import make_hub_cache, make_text_classifier

if TYPE_CHECKING:
    from testbed import Registry

pytestmark = [pytest.mark.engine, pytest.mark.reliability]

ENTRYPOINT = Path(__file__).resolve().parents[2] / "entrypoint.py"
TOKENIZER_ID = "onnx-package-test/sentiment-tokenizer"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
COMPILERS = re.compile(r"(^|/)(gcc|cc|c\+\+|g\+\+|clang|clang\+\+|[\w-]+-gcc(-[\d.]+)?)$")
CACHES = re.compile(
    r"(^|/)(var/lib/apt/lists/.+|var/cache/apt/.+\.deb|(root|home/[^/]+)/\.cache/pip/.*|"
    r"\.cache/pip/.*|var/cache/pip/.*)$"
)


@dataclass
class Packaged:
    """What the run produced, and the secrets that must not be in any of it."""

    code: int
    log: str
    outputs: dict[str, str]
    summary: str
    image_id: str
    ref: str
    secrets: dict[str, str]  # name -> the value given
    workdir: Path

    def needles(self) -> dict[str, bytes]:
        """Each secret as it could be written: plain, base64, and in a basic-auth header."""
        found: dict[str, bytes] = {}
        for name, value in self.secrets.items():
            found[name] = value.encode()
            found[f"{name} (base64)"] = base64.b64encode(value.encode())
        found["registry password (basic auth)"] = base64.b64encode(
            f"tester:{self.secrets['registry password']}".encode()
        )
        return found

    def leaks(self, text: str | bytes) -> list[str]:
        data = text.encode() if isinstance(text, str) else text
        return [name for name, needle in self.needles().items() if needle in data]


def hub_model(folder: Path) -> tuple[Path, Path]:
    """The text model with its tokenizer moved into a Hub cache (HF_HOME); returns (model folder, HF_HOME)."""
    model = make_text_classifier(folder / "sentiment")
    hub_files = folder / "hub-files"
    hub_files.mkdir()
    for name in TOKENIZER_FILES:
        (model / name).rename(hub_files / name)
    (hub_files / "config.json").write_text(json.dumps({"model_type": "bert"}))
    hf_home = make_hub_cache(folder / "hf", TOKENIZER_ID, hub_files, ("config.json", *TOKENIZER_FILES))
    return model, hf_home


def known_secrets(auth_registry: Registry) -> dict[str, str]:
    assert auth_registry.password
    return {
        "azure clientSecret": f"azSecret~{secrets.token_hex(12)}",
        "registry password": auth_registry.password,
        "HF_TOKEN": f"hf_{secrets.token_hex(16)}",
    }


def action_environ(
    folder: Path, model: Path, hf_home: Path, ref: str, base_image: str, auth_registry: Registry, values: dict[str, str]
) -> dict[str, str]:
    """What the runner gives entrypoint.py: INPUT_*, the GitHub files, and the job's environment."""
    credentials = json.dumps(
        {
            "clientId": "5e1a0000-0000-4000-8000-0000000000bb",
            "tenantId": "72f988bf-0000",
            "clientSecret": values["azure clientSecret"],
            "subscriptionId": "0000-1111",
        },
        indent=2,
    )
    registry_auth = (
        f"- registry: {auth_registry.host}\n  username: {auth_registry.username}\n"
        f"  password: {values['registry password']}\n"
    )
    repository, tag = ref.rsplit(":", 1)
    (folder / "docker-config").mkdir()
    return {
        **os.environ,
        "INPUT_MODEL-SOURCE": "local",
        "INPUT_MODEL-PATH": str(model),
        "INPUT_TOKENIZER": TOKENIZER_ID,
        "INPUT_IMAGES": repository,
        "INPUT_TAGS": tag,
        "INPUT_BASE-IMAGE": base_image,
        "INPUT_EXPECTED": '{"positive": true}',
        "INPUT_AZURE-CREDENTIALS": credentials,
        "INPUT_REGISTRY-AUTH": registry_auth,
        "HF_TOKEN": values["HF_TOKEN"],
        "HF_HOME": str(hf_home),
        "HF_HUB_OFFLINE": "1",
        "GITHUB_OUTPUT": str(folder / "output"),
        "GITHUB_STEP_SUMMARY": str(folder / "summary"),
        "RUNNER_TEMP": str(folder / "runner-temp"),
        "DOCKER_CONFIG": str(folder / "docker-config"),
        "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
        "GITHUB_REPOSITORY": "octo/models",
        "ONNX_PACKAGE_DEBUG": "1",  # keeps the work folder (gone after a normal run) for the secret scan
    }


@pytest.fixture(scope="module")
def packaged(
    tmp_path_factory: pytest.TempPathFactory,
    docker_client: docker.DockerClient,
    base_image: str,
    auth_registry: Registry,
) -> Iterator[Packaged]:
    folder = tmp_path_factory.mktemp("packaged")
    model, hf_home = hub_model(folder)
    ref = f"{auth_registry.host}/onnx-package-test-{secrets.token_hex(4)}/sentiment:v1"
    values = known_secrets(auth_registry)
    (folder / "runner-temp").mkdir()
    environ = action_environ(folder, model, hf_home, ref, base_image, auth_registry, values)
    done = subprocess.run(
        [sys.executable, str(ENTRYPOINT)], env=environ, cwd=folder, capture_output=True, text=True, timeout=900
    )
    outputs = parse_github_output((folder / "output").read_text()) if (folder / "output").exists() else {}
    summary = (folder / "summary").read_text() if (folder / "summary").exists() else ""
    result = Packaged(
        done.returncode,
        done.stdout + done.stderr,
        outputs,
        summary,
        outputs.get("image-id", ""),
        ref,
        values,
        folder / "runner-temp",
    )
    yield result
    if result.image_id:
        docker_client.images.remove(result.image_id, force=True)


def test_the_run_pushed_the_image(packaged: Packaged, auth_registry: Registry) -> None:
    assert packaged.code == 0, packaged.log[-4000:]
    repository, tag = packaged.ref.split("/", 1)[1].rsplit(":", 1)
    assert auth_registry.manifest_digest(repository, tag) == packaged.outputs["digest"]


# --- secrets ----------------------------------------------------------------------------------------------


def test_every_secret_is_masked_and_shows_nowhere_else_in_the_log(packaged: Packaged) -> None:
    masks = [line for line in packaged.log.splitlines() if line.startswith("::add-mask::")]
    for name, value in packaged.secrets.items():
        assert f"::add-mask::{value}" in masks, f"{name} is not masked"
    rest = "\n".join(line for line in packaged.log.splitlines() if not line.startswith("::add-mask::"))
    assert packaged.leaks(rest) == []


def test_no_secret_in_the_outputs_nor_the_step_summary(packaged: Packaged) -> None:
    assert packaged.outputs and packaged.summary
    assert packaged.leaks(json.dumps(packaged.outputs)) == []
    assert packaged.leaks(packaged.summary) == []


def test_no_secret_in_the_history_labels_environment_or_config(
    packaged: Packaged, docker_client: docker.DockerClient
) -> None:
    history = subprocess.run(
        ["docker", "history", "--no-trunc", "--format", "{{json .}}", packaged.image_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "COPY" in history or "ENV" in history, history
    inspected = docker_client.api.inspect_image(packaged.image_id)
    assert inspected["Config"]["Labels"]["io.github.onnx-package.model.name"] == "sentiment"
    for what in (history, json.dumps(docker_client.api.history(packaged.image_id)), json.dumps(inspected)):
        assert packaged.leaks(what) == []


def test_no_secret_in_any_file_of_any_layer(
    packaged: Packaged, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    scanned = 0
    with saved_image(docker_client, packaged.image_id, tmp_path) as image:
        for member in image.members:
            if member not in image.layers:
                assert packaged.leaks(raw(image, member)) == [], member  # config, manifests
        for layer in image.layers:
            for path, data in files(image, layer):
                scanned += 1
                assert packaged.leaks(data) == [], f"{layer}: {path}"
    print(f"{len(image.layers)} layers, {scanned} files scanned")
    assert scanned > 1000


def test_no_secret_left_in_the_runners_temp_folder(packaged: Packaged) -> None:
    leftovers = [path for path in packaged.workdir.rglob("*") if path.is_file()]
    assert leftovers, "the run left no work folder to scan"
    for path in leftovers:
        assert packaged.leaks(path.read_bytes()) == [], path


# --- the image ---------------------------------------------------------------------------------------------


def run_python(client: docker.DockerClient, image: str, code: str) -> str:
    output = client.containers.run(image, ["-c", code], entrypoint=["python3"], remove=True, read_only=True)
    return output.decode().strip()


def test_the_image_runs_as_user_10001(packaged: Packaged, docker_client: docker.DockerClient) -> None:
    assert docker_client.api.inspect_image(packaged.image_id)["Config"]["User"] == "10001:10001"
    assert run_python(docker_client, packaged.image_id, "import os; print(os.getuid(), os.getgid())") == "10001 10001"


def test_it_serves_from_a_read_only_root_filesystem_without_any_writable_mount(
    packaged: Packaged, docker_client: docker.DockerClient
) -> None:
    container = docker_client.containers.run(
        packaged.image_id, detach=True, read_only=True, ports={"8080/tcp": ("127.0.0.1", None)}
    )
    try:
        url = wait_ready(container)
        answer = httpx.post(url + "/predict", json=["Containers are good"], timeout=30)
        assert answer.status_code == 200 and answer.json() == {"positive": True}
        assert container.exec_run(["python3", "-c", "open('/opt/onnx-serve/x', 'w')"]).exit_code != 0
    finally:
        container.remove(force=True)


def wait_ready(container: docker.models.containers.Container, seconds: float = 120) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        container.reload()
        assert container.status not in ("exited", "dead"), container.logs().decode()[-2000:]
        ports = container.attrs["NetworkSettings"]["Ports"].get("8080/tcp")
        if ports:
            url = f"http://127.0.0.1:{ports[0]['HostPort']}"
            try:
                if httpx.get(url + "/v2/health/ready", timeout=2).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
        time.sleep(0.2)
    raise AssertionError(f"not ready within {seconds} s: {container.logs().decode()[-2000:]}")


def test_what_we_add_to_the_base_holds_no_compiler_nor_package_cache(
    packaged: Packaged, docker_client: docker.DockerClient, base_image: str, tmp_path: Path
) -> None:
    base_layers = docker_client.api.inspect_image(base_image)["RootFS"]["Layers"]
    image_layers = docker_client.api.inspect_image(packaged.image_id)["RootFS"]["Layers"]
    assert image_layers[: len(base_layers)] == base_layers
    with saved_image(docker_client, packaged.image_id, tmp_path) as image:
        added = [path for layer in image.layers[len(base_layers) :] for path in names(image, layer)]
    assert any(path.startswith("opt/onnx-serve/deps/") for path in added)
    assert [path for path in added if COMPILERS.search(path)] == []
    assert [path for path in added if CACHES.search(path)] == []
    assert [path for path in added if path != "opt" and not path.startswith("opt/onnx-serve")] == []
    which = "import shutil; print([c for c in ('gcc', 'cc', 'c++', 'clang') if shutil.which(c)])"
    assert run_python(docker_client, packaged.image_id, which) == "[]"


def test_what_we_add_without_the_model_is_at_most_60_mb_compressed(
    packaged: Packaged, docker_client: docker.DockerClient, base_image: str, tmp_path: Path
) -> None:
    """The serving stack (deps/ and app/ layers, gzip'd as a registry stores them); the model is the last layer."""
    base_layers = docker_client.api.inspect_image(base_image)["RootFS"]["Layers"]
    with saved_image(docker_client, packaged.image_id, tmp_path) as image:
        ours = image.layers[len(base_layers) :]
        assert len(ours) == 3, ours  # deps/, app/, model/
        stack = [raw(image, layer) for layer in ours[:-1]]
    compressed = sum(len(gzip.compress(layer, compresslevel=6)) for layer in stack)
    assert 10_000_000 < compressed <= 60_000_000, f"{compressed / 1e6:.1f} MB"
