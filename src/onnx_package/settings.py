"""Inputs parsed once into a typed object; every stage takes Settings, never os.environ."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import SettingsError
from .inputs import BY_NAME, INPUTS, Input


class Secret:
    """A string that never shows itself in a repr, a log line or an f-string."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


Mask = Callable[[str], None]  # takes a secret learned during the run (Reporter.mask)


def ignore(_: str) -> None:
    """A Mask for callers with no log to protect."""


def env_input(environ: Mapping[str, str], name: str) -> str | None:
    """GitHub sets INPUT_MODEL-PATH for JavaScript actions; composite ones pass INPUT_MODEL_PATH."""
    for key in (f"INPUT_{name.upper()}", f"INPUT_{name.upper().replace('-', '_')}"):
        if key in environ:
            return environ[key]
    return None


def split_list(raw: str, on_spaces: bool = False) -> tuple[str, ...]:
    return tuple(item.strip() for item in re.split(r"[\s,]" if on_spaces else r"[\n,]", raw) if item.strip())


def read_json(spec: Input, raw: str) -> Any:
    text = raw
    if raw.startswith("@"):
        path = Path(raw[1:])
        if not path.is_file():
            raise SettingsError(
                f"{spec.name}: file {path} does not exist",
                f"give {spec.name} as inline JSON or @path to an existing JSON file",
            )
        text = path.read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        example = '{"positive": true}' if spec.name == "expected" else '["Containers are good"]'
        raise SettingsError(
            f"{spec.name} is not valid JSON ({err.msg} at line {err.lineno} column {err.colno})",
            f"give {spec.name} as JSON, e.g. {spec.name}: '{example}'",
        ) from err


def convert(spec: Input, raw: str) -> Any:
    raw = raw.strip()
    if spec.choices and raw not in spec.choices:
        raise SettingsError(f"{spec.name} is {raw!r}", f"set {spec.name} to one of: {', '.join(spec.choices)}")
    if spec.kind == "bool":
        if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise SettingsError(f"{spec.name} is {raw!r}, not a boolean", f"set {spec.name} to true or false")
        return raw.lower() in ("true", "1", "yes")
    if spec.kind == "count" and not raw:
        return None
    if spec.kind in ("int", "count"):
        if not raw.isdigit():
            raise SettingsError(
                f"{spec.name} is {raw!r}, not a whole number",
                f"set {spec.name} to a whole number, e.g. {spec.default or 0}",
            )
        return int(raw)
    if spec.kind == "float":  # a share, 0 to 1
        try:
            share = float(raw)
        except ValueError:
            share = -1.0
        if not 0 <= share <= 1:
            raise SettingsError(
                f"{spec.name} is {raw!r}, not a number from 0 to 1", f"set {spec.name} to e.g. {spec.default}"
            )
        return share
    if spec.kind in ("list", "words"):
        return split_list(raw, on_spaces=spec.kind == "words")
    if spec.kind == "lines":  # values such as an OCI description may hold commas and spaces
        return tuple(line.strip() for line in raw.splitlines() if line.strip())
    if spec.kind == "json" or spec.name == "sample":
        return read_json(spec, raw) if raw else None
    if spec.kind == "secret":
        return Secret(raw)
    return raw


def default(name: str) -> Any:
    """The input's default from the one table (inputs.INPUTS), converted as a given value would be."""
    spec = BY_NAME[name]
    return convert(spec, spec.default)


@dataclass(frozen=True)
class Settings:
    """Every input (its default from inputs.INPUTS, the one table), then what the run's environment tells."""

    model_source: str = default("model-source")
    model_path: str = default("model-path")
    model_url: str = default("model-url")
    tokenizer_url: str = default("tokenizer-url")
    model_name: str = default("model-name")
    model_version: str = default("model-version")
    model_label: str = default("model-label")
    model_file: str = default("model-file")
    model_sha256: str = default("model-sha256")
    subscription_id: str = default("subscription-id")
    resource_group: str = default("resource-group")
    workspace: str = default("workspace")
    registry_name: str = default("registry-name")
    azure_credentials: Secret = field(default_factory=lambda: default("azure-credentials"))
    client_id: str = default("client-id")
    tenant_id: str = default("tenant-id")
    audience: str = default("audience")
    cloud: str = default("cloud")
    tokenizer: str = default("tokenizer")
    class_labels: tuple[str, ...] = default("class-labels")
    sample: Any = field(default_factory=lambda: default("sample"))
    expected: Any = field(default_factory=lambda: default("expected"))
    samples: str = default("samples")  # path of the golden set; read by model/samples.py
    optimize: bool = default("optimize")
    quantize: str = default("quantize")
    min_agreement: float = default("min-agreement")
    max_changed_answers: int | None = default("max-changed-answers")  # None: the release gate reports only
    images: tuple[str, ...] = default("images")
    tags: tuple[str, ...] = default("tags")
    labels: tuple[str, ...] = default("labels")  # key=value lines; parsed by image/metadata.py
    annotations: tuple[str, ...] = default("annotations")
    base_image: str = default("base-image")
    grpc: bool = default("grpc")
    platforms: tuple[str, ...] = default("platforms")
    push: bool = default("push")
    cache: bool = default("cache")
    registry_auth: Secret = field(default_factory=lambda: default("registry-auth"))
    registry_ca: str = default("registry-ca")
    check_timeout: int = default("check-timeout")
    # From the environment of the run, not inputs.
    revision: str = ""
    source_url: str = ""
    source_date_epoch: int = 0  # the image's `created`: SOURCE_DATE_EPOCH, else the commit's time, else 0
    workdir: Path = field(default_factory=lambda: Path(".onnx-package"))
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "onnx-package")
    debug: bool = False  # ONNX_PACKAGE_DEBUG or RUNNER_DEBUG=1: the work folder is kept for a look
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    def secrets(self) -> list[str]:
        """Every secret value, for masking (the Hub token comes from the environment)."""
        values = [s.reveal() for s in (self.azure_credentials, self.registry_auth) if s]
        return values + ([self.environ["HF_TOKEN"]] if self.environ.get("HF_TOKEN") else [])


# The commit each CI system names (GitHub Actions, GitLab CI, Azure Pipelines): the tool's image has no git.
REVISION_VARIABLES = ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILD_SOURCEVERSION")


def git_revision(environ: Mapping[str, str]) -> str:
    for variable in REVISION_VARIABLES:
        if environ.get(variable):
            return environ[variable]
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def source_date_epoch(environ: Mapping[str, str], revision: str) -> int:
    """The time the image says it was made: never the clock, so a rebuild of the same inputs is identical."""
    given = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if given:
        if not given.isdigit():
            raise SettingsError(
                f"SOURCE_DATE_EPOCH is {given!r}, not a whole number of seconds",
                "set it to a Unix time, e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)",
            )
        return int(given)
    if not revision:
        return 0
    try:
        done = subprocess.run(
            ["git", "show", "-s", "--format=%ct", revision], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        done = None
    stamp = done.stdout.strip() if done else ""
    return int(stamp) if done and done.returncode == 0 and stamp.isdigit() else ci_commit_time(environ, revision)


def ci_commit_time(environ: Mapping[str, str], revision: str) -> int:
    """The commit's time as the CI system tells it, where git cannot (a job container or an image without git):
    GitLab's CI_COMMIT_TIMESTAMP, or the head commit of a GitHub push event; else 0."""
    stamp = environ.get("CI_COMMIT_TIMESTAMP", "") if environ.get("CI_COMMIT_SHA") == revision else ""
    if not stamp and environ.get("GITHUB_EVENT_PATH"):
        try:
            head = json.loads(Path(environ["GITHUB_EVENT_PATH"]).read_text()).get("head_commit") or {}
        except (OSError, ValueError, AttributeError):
            head = {}
        stamp = str(head.get("timestamp") or "") if isinstance(head, dict) and head.get("id") == revision else ""
    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()) if stamp else 0
    except ValueError:
        return 0


def source_url(environ: Mapping[str, str]) -> str:
    server, repo = environ.get("GITHUB_SERVER_URL", "https://github.com"), environ.get("GITHUB_REPOSITORY")
    return f"{server}/{repo}" if repo else ""


def load_settings(cli_values: Mapping[str, str | None], environ: Mapping[str, str]) -> Settings:
    """CLI flag, then INPUT_* variable, then the default; `cli_values` is keyed by kebab-case name."""
    values: dict[str, Any] = {}
    for spec in INPUTS:
        raw = cli_values.get(spec.name)
        if raw is None:
            raw = env_input(environ, spec.name)
        if raw is None or (raw.strip() == "" and spec.default):
            raw = spec.default
        values[spec.attr] = convert(spec, raw)
    workdir = Path(environ.get("RUNNER_TEMP", ".")) / ".onnx-package"
    cache_dir = Path(environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "onnx-package"
    revision = git_revision(environ)
    return Settings(
        **values,
        revision=revision,
        source_url=source_url(environ),
        source_date_epoch=source_date_epoch(environ, revision),
        workdir=workdir,
        cache_dir=cache_dir,
        debug=debugging(environ),
        environ=dict(environ),
    )


def run_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The run's environment: `environ` when given, else the process's (the one read of os.environ; the edges,
    cli.py and entrypoint.py, start from it)."""
    return dict(os.environ if environ is None else environ)


def debugging(environ: Mapping[str, str]) -> bool:
    """ONNX_PACKAGE_DEBUG=1, or GitHub's "re-run with debug logging" (RUNNER_DEBUG=1); as cli.py reads them."""
    return bool(environ.get("ONNX_PACKAGE_DEBUG")) or environ.get("RUNNER_DEBUG") == "1"


def require(settings: Settings, *names: str, why: str) -> None:
    """Stop with a clear line when inputs that `why` needs are empty."""
    missing = [n for n in names if not getattr(settings, BY_NAME[n].attr)]
    if missing:
        listed = ", ".join(missing)
        example = " ".join(f"--{n} ..." for n in missing)
        raise SettingsError(
            f"{why} needs {listed}, which {'is' if len(missing) == 1 else 'are'} empty",
            f"set {listed} (CLI: {example}; action: with: {missing[0]}: ...)",
        )


# Inputs that only one model source reads: set with another source, they would be silently ignored.
SOURCE_INPUTS = {"model-path": "local", "model-url": "url", "tokenizer-url": "url"}


def check_source_inputs(settings: Settings) -> None:
    """Stop when an input of another model source is set (e.g. model-path with the default azureml)."""
    for name, source in SOURCE_INPUTS.items():
        if getattr(settings, BY_NAME[name].attr) and settings.model_source != source:
            raise SettingsError(
                f"{name} is set but model-source is {settings.model_source}, which ignores it",
                f"set model-source to {source} (CLI: --model-source {source}; action: with: "
                f"model-source: {source}), or remove {name}",
            )
