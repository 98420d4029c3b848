"""The one table of inputs: action.yml, the CLI flags and INPUT_* variables all come from it.

A test keeps action.yml and README's table in agreement with this list.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Input:
    name: str  # kebab-case, as in action.yml and on the CLI
    description: str
    default: str = ""
    # str | bool | int | count (an int, or empty: none) | float (0-1) | list | words (space-separated too) | lines |
    # json | secret
    kind: str = "str"
    choices: tuple[str, ...] = ()

    @property
    def attr(self) -> str:
        return self.name.replace("-", "_")


INPUTS: tuple[Input, ...] = (
    # Where the model comes from
    Input(
        "model-source",
        "Where the model comes from: azureml, local or url.",
        "azureml",
        choices=("azureml", "local", "url"),
    ),
    Input("model-path", "local: a folder holding the model (and tokenizer files), or an .onnx file."),
    Input("model-url", "url: an https URL of an .onnx file."),
    Input("tokenizer-url", "url: an https URL of a tokenizer.json to bake in beside the model."),
    Input(
        "model-name",
        "Model name in Azure ML; for local and url sources, the name served and labelled "
        "(default: the file or folder name).",
    ),
    Input("model-version", "A version number, or latest.", "latest"),
    Input("model-label", "azureml: resolve the version by this label instead of model-version."),
    Input("model-file", "Which .onnx file to serve when the model folder holds several."),
    Input("model-sha256", "Expected sha256 of the model file; the run stops before building on a mismatch."),
    # Azure ML
    Input("subscription-id", "Azure subscription id (may come from azure-credentials)."),
    Input("resource-group", "Azure resource group of the workspace."),
    Input("workspace", "Azure ML workspace name."),
    Input("registry-name", "Azure ML registry name (instead of a workspace)."),
    Input(
        "azure-credentials",
        "JSON of `az ad sp create-for-rbac --sdk-auth` (clientId, clientSecret, subscriptionId, tenantId).",
        kind="secret",
    ),
    Input("client-id", "Client id for OIDC federation (no secret; needs permissions: id-token: write)."),
    Input("tenant-id", "Tenant id for OIDC federation."),
    Input(
        "audience",
        "Audience of the GitHub OIDC token, as the federated credential names it.",
        "api://AzureADTokenExchange",
    ),
    Input(
        "cloud",
        "AzureCloud, AzureChinaCloud, AzureUSGovernment, or a JSON object of custom cloud metadata.",
        "AzureCloud",
    ),
    # What the model means
    Input("tokenizer", "Tokenizer: a path, or a Hugging Face Hub id resolved at package time."),
    Input("class-labels", "Class labels, comma-separated (when the model ships no config.json).", kind="list"),
    Input("sample", "Request body for /predict used by the smoke test and container check (JSON, or @file)."),
    Input("expected", "Expected /predict answer for the sample (JSON, or @file).", kind="json"),
    Input(
        "samples",
        "Golden set: a JSON Lines file (relative to the workspace) of /predict requests, one a line, "
        'each a bare request or {"request": ..., "expected": ...}; used by the smoke test, the container check '
        "and the optimize/quantize checks.",
    ),
    # A faster model, with a proven answer
    Input(
        "optimize",
        "Save onnxruntime's graph optimizations (extended level, portable across CPUs; attention, layer "
        "norm and GELU fusions for transformer encoders) into the image; served only if every sample's outputs "
        "match the original's and no class decision changes, else the original is served.",
        "true",
        kind="bool",
    ),
    Input(
        "quantize",
        "none, or int8: dynamic int8 weights (onnxruntime.quantization), served only if at least "
        "min-agreement of the samples' class decisions equal the original's; below it the run fails.",
        "none",
        choices=("none", "int8"),
    ),
    Input(
        "min-agreement",
        "quantize: the share of class decisions (0-1) that must equal the fp32 model's.",
        "0.99",
        kind="float",
    ),
    Input(
        "max-changed-answers",
        "Release gate: when the first repository holds a previous image, the golden set is "
        "answered by it and by the new image (see the diff output); more changed answers than this stop the run "
        "before the push (empty: report only).",
        kind="count",
    ),
    # The image
    Input(
        "images",
        "Image repositories to push to, separated by newlines, commas or spaces "
        "(e.g. docker.io/me/model, ghcr.io/org/model).",
        kind="words",
    ),
    Input(
        "tags",
        "Image tags, separated by newlines, commas or spaces: names (v1), pushed to every images entry, or "
        "full references (ghcr.io/org/model:v1, as docker/metadata-action's tags output writes them) "
        "(default: the model version and the short git SHA).",
        kind="words",
    ),
    Input(
        "labels",
        "OCI labels for the image config, one key=value per line (docker/metadata-action's labels "
        "output works as is); they override the tool's own.",
        kind="lines",
    ),
    Input(
        "annotations",
        "OCI annotations for the image manifest, one [manifest:]key=value per line "
        "(docker/metadata-action's annotations output works as is); they override the tool's own.",
        kind="lines",
    ),
    Input(
        "base-image",
        "Base image for the serving image, with python3 3.11-3.14 (glibc); a tag is resolved to its "
        "digest, a name@sha256:... pin is used as is.",
        "python:3.11-slim",
    ),
    Input(
        "platforms",
        "Platforms to build, comma-separated as docker/build-push-action takes them: linux/amd64, "
        "linux/arm64 or both. Several give an OCI image index over one image per platform.",
        "linux/amd64",
        kind="words",
    ),
    Input(
        "grpc",
        "Also serve the Open Inference Protocol over gRPC on port 8081 (adds grpcio and protobuf to the image).",
        "false",
        kind="bool",
    ),
    Input("push", "Push the image after every check passed.", "true", kind="bool"),
    Input(
        "cache",
        "Pull the previous image of the first repository first, so the layers it shares with the new "
        "image are not pushed again.",
        "true",
        kind="bool",
    ),
    Input(
        "registry-auth",
        "YAML list of registry credentials (registry, username, password), as docker/login-action "
        "takes it (its scope is ignored; ECR key exchange is not supported).",
        kind="secret",
    ),
    Input("registry-ca", "PEM file of a CA to trust for registries with a private certificate."),
    Input("check-timeout", "Seconds to wait for the built container to become ready.", "120", kind="int"),
)

BY_NAME = {spec.name: spec for spec in INPUTS}
