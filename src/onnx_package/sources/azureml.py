"""A model registered in an Azure ML workspace or registry, fetched with the unmodified SDKs.

Workspace models: azure-ai-ml resolves the version, the datastore and its secret; the blobs are
read with azure-storage-blob under `<path>/` exactly (the SDK's own download lists by bare prefix,
so `model_v1` would also take the files of `model_v10`). Registry models: the SDK's download,
the only public way to the registry's SAS. Both land in a temp folder, then move into `dest`.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from azure.ai.ml import MLClient
from azure.ai.ml.entities import AccountKeyConfiguration, Model, SasTokenConfiguration
from azure.ai.ml.exceptions import MlException, ValidationException
from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import ContainerClient, ExponentialRetry

from ..errors import ModelSourceError, PackageError, SettingsError, first_line
from ..settings import Mask, Settings, ignore, require
from . import azure_auth
from .base import FetchedModel, check_sha256, pick_model_file, sha256_of

log = logging.getLogger(__name__)

# Passed to every SDK client: no telemetry upload, no progress bars, bounded waits (the default
# retry policy then retries 5xx, resets and timeouts three times).
SDK_OPTIONS: dict[str, Any] = {
    "enable_telemetry": False,
    "show_progress": False,
    "connection_timeout": 20,
    "read_timeout": 120,
}
BLOB_RETRY = ExponentialRetry(initial_backoff=2, increment_base=2, retry_total=3)
# ARM answers these for a missing subscription, resource group or workspace.
PARENT_MISSING = {"SubscriptionNotFound", "ResourceGroupNotFound", "ParentResourceNotFound", "WorkspaceNotFound"}
SHOWN_VERSIONS = 20


@dataclass(frozen=True)
class Place:
    """The workspace or registry a model lives in, as calls and messages need it."""

    subscription: str = ""
    resource_group: str = ""
    workspace: str = ""
    registry: str = ""

    def __str__(self) -> str:
        if self.registry:
            return f"registry {self.registry}"
        return f"workspace {self.workspace} (resource group {self.resource_group}, subscription {self.subscription})"

    @property
    def role(self) -> str:
        return "AzureML Registry User" if self.registry else "AzureML Data Scientist"

    @property
    def scope(self) -> str:
        if self.registry:
            return f"the registry {self.registry} (its resource id: az ml registry show -n {self.registry} --query id)"
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{self.workspace}"
        )


def fetch_azureml(settings: Settings, dest: Path, mask: Mask = ignore) -> FetchedModel:
    place = place_of(settings)
    name = settings.model_name
    dest.mkdir(parents=True, exist_ok=True)
    with translated(settings, place):
        credential = azure_auth.azure_credential(settings, mask)
        client = ml_client(settings, place, credential)
        version = resolve_version(client, settings, place)
        log.info("Azure ML: %s version %s from %s", name, version, place)
        model = get_model(client, name, version, place)
        with tempfile.TemporaryDirectory(prefix="azureml-", dir=dest.parent) as tmp:
            if place.registry:
                folder = download_registry_model(client, model, Path(tmp))
            else:
                folder = download_workspace_model(client, model, Path(tmp), settings, credential)
            move_into(folder, dest)
    model_file = pick_model_file(dest, settings.model_file)
    sha256 = sha256_of(dest / model_file)
    check_sha256(settings.model_sha256, sha256, f"{name} version {version} ({model_file})")
    return FetchedModel(
        folder=dest, model_file=model_file, name=name, version=version, sha256=sha256, origin=str(model.id or "")
    )


def place_of(settings: Settings) -> Place:
    if settings.model_label and settings.model_version.strip().lower() != "latest":
        raise SettingsError(
            f"both model-version ({settings.model_version}) and model-label ({settings.model_label}) are set",
            "set one: model-version for a fixed version, or model-label (with model-version left at latest)",
        )
    if settings.registry_name:
        if settings.workspace:
            raise SettingsError(
                f"both workspace ({settings.workspace}) and registry-name ({settings.registry_name}) are set",
                "set workspace for a workspace model or registry-name for a registry model, not both",
            )
        require(settings, "model-name", why="an Azure ML registry model")
        return Place(registry=settings.registry_name)
    require(settings, "workspace", "resource-group", "model-name", why="model-source azureml")
    subscription = azure_auth.subscription_id(settings)
    if not subscription:
        raise SettingsError(
            "model-source azureml needs subscription-id, which is empty (and azure-credentials names none)",
            "set subscription-id (CLI: --subscription-id ...; action: with: subscription-id: ...)",
        )
    return Place(subscription=subscription, resource_group=settings.resource_group, workspace=settings.workspace)


def ml_client(settings: Settings, place: Place, credential: TokenCredential) -> MLClient:
    options = {**azure_auth.cloud_of(settings).mlclient_kwargs(), **SDK_OPTIONS}
    if not place.registry:
        return MLClient(credential, place.subscription, place.resource_group, place.workspace, **options)
    try:  # the constructor asks the discovery service where the registry lives
        return MLClient(credential, registry_name=place.registry, **options)
    except ResourceNotFoundError as err:
        raise ModelSourceError(
            f"registry {place.registry} was not found ({service_error(err)})",
            "check registry-name (az ml registry list) and the cloud input",
        ) from err


def resolve_version(client: MLClient, settings: Settings, place: Place) -> str:
    """model-label, or `latest`, resolved by the service to a version number."""
    label = settings.model_label or ("latest" if settings.model_version.strip().lower() == "latest" else "")
    if not label:
        return settings.model_version.strip()
    try:
        model = client.models.get(settings.model_name, label=label)
    except ValidationException as err:
        if label != "latest":
            raise SettingsError(
                f"model-label {label!r} is not a label Azure ML resolves ({sdk_line(str(err))})",
                "use model-label: latest, or set model-version to a version number",
            ) from err
        raise missing_model(client, settings.model_name, place) from err
    return str(model.version)


def get_model(client: MLClient, name: str, version: str, place: Place) -> Model:
    try:
        model: Model = client.models.get(name, version=version)
    except ResourceNotFoundError as err:
        if error_code(err) in PARENT_MISSING:
            raise
        versions = known_versions(client, name)
        if not versions:
            raise missing_model(client, name, place) from err
        raise ModelSourceError(
            f"model {name} has no version {version} in {place}; it has versions {', '.join(versions)}",
            "set model-version to one of those, or to latest",
        ) from err
    return model


def missing_model(client: MLClient, name: str, place: Place) -> ModelSourceError:
    try:
        names = sorted(str(m.name) for m in client.models.list())
    except (HttpResponseError, MlException):
        names = []
    listed = f"its models are {', '.join(names[:SHOWN_VERSIONS])}" if names else "it has no models"
    return ModelSourceError(
        f"model {name} does not exist in {place}; {listed}",
        "set model-name to a registered model, or register it first (az ml model create)",
    )


def known_versions(client: MLClient, name: str) -> list[str]:
    try:
        versions = [str(m.version) for m in client.models.list(name)]
    except (HttpResponseError, MlException):
        return []
    versions.sort(key=lambda v: (0, int(v), "") if v.isdigit() else (1, 0, v))
    return versions[-SHOWN_VERSIONS:]


# --- downloads -------------------------------------------------------------------------------------
def download_workspace_model(
    client: MLClient, model: Model, into: Path, settings: Settings, credential: TokenCredential
) -> Path:
    datastore_name, prefix = split_datastore_uri(str(model.path))
    datastore = client.datastores.get(datastore_name, include_secrets=True)
    container_name = getattr(datastore, "container_name", None) or getattr(datastore, "filesystem", None)
    if not container_name:
        raise ModelSourceError(
            f"model {model.name} version {model.version} is stored in datastore "
            f"{datastore_name} of type {datastore.type}, which this action cannot read",
            "register the model from a blob or ADLS Gen2 datastore",
        )
    suffix = getattr(datastore, "endpoint", None) or azure_auth.cloud_of(settings).storage_endpoint
    protocol = getattr(datastore, "protocol", None) or "https"
    account_url = f"{protocol}://{datastore.account_name}.blob.{suffix}"
    container = ContainerClient(
        account_url,
        container_name,
        credential=blob_credential(datastore, credential),
        retry_policy=BLOB_RETRY,
        connection_timeout=20,
        read_timeout=120,
    )
    where = f"{container_name}/{prefix} in storage account {datastore.account_name} (datastore {datastore_name})"
    with storage_errors(where, datastore_name, credential_kind(datastore)):
        count = copy_blobs(container, prefix.strip("/"), into)
    if count == 0:
        raise ModelSourceError(
            f"model {model.name} version {model.version} points at {where}, which holds no files",
            "register the model version again from a folder that holds the model",
        )
    return into


def split_datastore_uri(uri: str) -> tuple[str, str]:
    """azureml://[subscriptions/.../workspaces/W/]datastores/D/paths/P -> (D, P)."""
    match = re.search(r"datastores/([^/]+)/paths/(.+)$", uri)
    if not match:
        raise ModelSourceError(
            f"the model's path {uri} is not a datastore path",
            "register the model from a datastore path (azureml://datastores/<name>/paths/...)",
        )
    return match[1], match[2]


def blob_credential(datastore: Any, credential: TokenCredential) -> Any:
    secrets = datastore.credentials
    if isinstance(secrets, AccountKeyConfiguration):  # named: sovereign hosts hide the account name
        return {"account_name": datastore.account_name, "account_key": secrets.account_key}
    if isinstance(secrets, SasTokenConfiguration):
        return secrets.sas_token
    return credential  # identity-based datastore: the login itself reads the blobs


def credential_kind(datastore: Any) -> str:
    secrets = datastore.credentials
    if isinstance(secrets, AccountKeyConfiguration):
        return "account key"
    return "SAS token" if isinstance(secrets, SasTokenConfiguration) else "identity"


def copy_blobs(container: ContainerClient, prefix: str, into: Path) -> int:
    """The blob `prefix` itself (a one-file model) or every blob under `prefix/`; returns how many."""
    if is_file_blob(container, prefix):
        write_blob(container, prefix, into / PurePosixPath(prefix).name)
        return 1
    count = 0
    for blob in container.list_blobs(name_starts_with=prefix + "/", include=["metadata"]):
        if (blob.metadata or {}).get("hdi_isfolder") == "true":
            continue  # a folder marker of a hierarchical-namespace account
        target = (into / blob.name[len(prefix) + 1 :]).resolve()
        if not target.is_relative_to(into.resolve()):
            log.warning("skipped blob %s: its name leaves the model folder", blob.name)
            continue
        write_blob(container, blob.name, target)
        count += 1
    return count


def is_file_blob(container: ContainerClient, name: str) -> bool:
    try:
        properties = container.get_blob_client(name).get_blob_properties()
    except ResourceNotFoundError:
        return False
    return (properties.metadata or {}).get("hdi_isfolder") != "true"


def write_blob(container: ContainerClient, name: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        size = container.download_blob(name, max_concurrency=4).readinto(out)
    log.info("downloaded %s (%.1f MB)", name, size / 1e6)


def download_registry_model(client: MLClient, model: Model, into: Path) -> Path:
    """The SDK writes `into/<name>/<last path segment>/...` for a folder, `into/<name>/<file>` for a file."""
    client.models.download(str(model.name), str(model.version), download_path=into)
    landed = into / str(model.name)
    inner = landed / PurePosixPath(str(model.path).rstrip("/")).name
    return inner if inner.is_dir() else landed


def move_into(folder: Path, dest: Path) -> None:
    for child in folder.iterdir():
        shutil.move(str(child), str(dest / child.name))


# --- errors ---------------------------------------------------------------------------------------
@contextmanager
def translated(settings: Settings, place: Place) -> Iterator[None]:
    """SDK exceptions -> one-line PackageErrors naming the cause and the fix."""
    try:
        yield
    except PackageError:
        raise
    except ClientAuthenticationError as err:
        raise auth_error(err, settings, place) from err
    except HttpResponseError as err:
        raise http_error(err, settings, place) from err
    except (ServiceRequestError, ServiceResponseError) as err:
        raise ModelSourceError(
            f"could not reach Azure for {place} after retries ({sdk_line(str(err))})",
            "check the runner's network and proxy settings and the cloud input, then retry",
        ) from err
    except MlException as err:
        raise ModelSourceError(
            f"azure-ai-ml failed for {place}: {sdk_line(str(err))}",
            "check the model's registration in Azure ML; retry if the service was busy",
        ) from err


def auth_error(err: ClientAuthenticationError, settings: Settings, place: Place) -> PackageError:
    if azure_auth.is_login_failure(err, settings):
        return azure_auth.login_error(err, settings)
    return ModelSourceError(
        f"Azure ML refused the token of {azure_auth.identity(settings)} for {place} "
        f"({err.status_code} {service_error(err)})",
        f"check that the login's tenant (tenant-id, tenantId) owns the subscription of {place}, and the cloud input",
    )


def http_error(err: HttpResponseError, settings: Settings, place: Place) -> PackageError:
    status, detail = err.status_code or 0, service_error(err)
    if status == 403:
        return ModelSourceError(
            f"{azure_auth.identity(settings)} may not read models of {place} (403 {detail})",
            f'grant it the "{place.role}" role: az role assignment create --assignee '
            f'{azure_auth.assignee(settings)} --role "{place.role}" --scope {place.scope}',
        )
    if status == 404 and error_code(err) in PARENT_MISSING:
        return ModelSourceError(
            f"{place} was not found ({detail})",
            "check subscription-id, resource-group and workspace (az ml workspace list)",
        )
    if status == 404:
        return ModelSourceError(
            f"Azure ML found no {detail or 'such resource'} in {place}",
            "check the model's registration (az ml model show) and its datastore",
        )
    if status >= 500:
        return ModelSourceError(
            f"Azure ML answered {status} for {place} after retries ({detail})",
            "retry the job later; the service had an outage",
        )
    return ModelSourceError(f"Azure ML answered {status} for {place} ({detail})", "check the inputs the message names")


@contextmanager
def storage_errors(where: str, datastore: str, kind: str) -> Iterator[None]:
    try:
        yield
    except HttpResponseError as err:
        status = err.status_code or 0
        raw_code = getattr(err, "error_code", None)  # a StorageErrorCode
        code = str(getattr(raw_code, "value", raw_code) or "")
        detail = f"{status} {code}: {sdk_line(str(err.reason or ''))}"
        if status in (401, 403) or code in ("AuthenticationFailed", "InvalidAuthenticationInfo"):
            fix = (
                'grant the login the "Storage Blob Data Reader" role on the storage account'
                if kind == "identity"
                else f"update the {kind} of datastore {datastore} in Azure ML (az ml datastore update)"
            )
            raise ModelSourceError(f"blob storage refused the datastore's {kind} for {where} ({detail})", fix) from err
        if status == 404:
            raise ModelSourceError(
                f"{where} does not exist ({detail})", "register the model version again; its files are gone"
            ) from err
        raise ModelSourceError(
            f"blob storage answered {where} with {detail} after retries", "retry the job later"
        ) from err


def error_code(err: HttpResponseError) -> str:
    return service_error_parts(err)[0]


def service_error(err: HttpResponseError) -> str:
    code, message = service_error_parts(err)
    return f"{code}: {message}" if code else message


def service_error_parts(err: HttpResponseError) -> tuple[str, str]:
    """(code, message) from an ARM/ML error body, else from the exception text."""
    error = getattr(err, "error", None)
    if error is not None and getattr(error, "code", None):
        return str(error.code), sdk_line(str(error.message or ""))
    try:
        body = json.loads(err.response.text()) if err.response is not None else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("code", "")), sdk_line(str(body["error"].get("message", "")))
    return str(getattr(err, "error_code", "") or ""), sdk_line(str(err.message or err))


def sdk_line(text: str, limit: int = 300) -> str:
    """One line of an SDK message: no AAD trace ids, no trailing period, any SAS signature blanked."""
    line = re.sub(r"(sig=)[^&\s'\"]+", r"\1REDACTED", first_line(text))
    line = re.sub(r"\s*Trace ID:.*?(?='|$)", "", line).rstrip(". ")
    return first_line(line, limit)
