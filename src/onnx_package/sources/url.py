"""A model (and optionally its tokenizer.json) downloaded over HTTPS, e.g. a release asset."""

from __future__ import annotations

import http.client
import logging
import shutil
import ssl
import tempfile
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from .. import retry
from ..errors import ModelSourceError, SettingsError
from ..settings import Settings, require
from .base import FetchedModel, check_sha256, pick_model_file, sha256_of

log = logging.getLogger(__name__)

ATTEMPTS = retry.DOWNLOAD.attempts
TIMEOUT = 60  # seconds without a byte before an attempt fails
CHUNK = 1 << 20
PROGRESS_STEP = 0.1  # log every 10 % (or every 100 MB without a Content-Length)


def check_urls(settings: Settings) -> str:
    """model-url and tokenizer-url are https URLs; the model's file name."""
    require(settings, "model-url", why="model-source url")
    if settings.tokenizer_url:
        file_name(settings.tokenizer_url, "tokenizer-url")
    return file_name(settings.model_url, "model-url")


def fetch_url(settings: Settings, dest: Path) -> FetchedModel:
    model_file = check_urls(settings)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="url-", dir=dest.parent) as tmp:
        download(settings.model_url, Path(tmp) / model_file)
        if settings.tokenizer_url:
            download(settings.tokenizer_url, Path(tmp) / "tokenizer.json")
        for child in Path(tmp).iterdir():
            shutil.move(str(child), str(dest / child.name))
    model_file = pick_model_file(dest, model_file)
    sha256 = sha256_of(dest / model_file)
    if settings.model_sha256:
        check_sha256(settings.model_sha256, sha256, shown(settings.model_url))
    else:
        log.warning(
            "model-sha256 is not set: %s has sha256 %s; set model-sha256: %s to pin it",
            shown(settings.model_url),
            sha256,
            sha256,
        )
    name = settings.model_name or PurePosixPath(model_file).stem
    version = settings.model_version if settings.model_version != "latest" else sha256[:12]
    return FetchedModel(
        folder=dest, model_file=model_file, name=name, version=version, sha256=sha256, origin=public(settings.model_url)
    )


def file_name(url: str, what: str) -> str:
    """The .onnx file name the URL ends with (model.onnx when it names none); https only."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise SettingsError(
            f"{what} {shown(url)} is not an https URL",
            f"give {what} as https://host/path (plain http and other schemes are refused)",
        )
    last = PurePosixPath(unquote(parts.path)).name
    return last if last.endswith(".onnx") else "model.onnx"


def public(url: str) -> str:
    """The URL without what may be secret in it: its query (often a SAS or token), user info and fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def shown(url: str) -> str:
    """The URL for logs and errors."""
    return public(url) + ("?…" if urlsplit(url).query else "")


def download(url: str, target: Path) -> None:
    """Bounded retries on 5xx, 429, resets and timeouts; other failures stop at once."""

    def attempt() -> None:
        try:
            copy_response(url, target)
        except urllib.error.HTTPError as err:
            if err.code < 500 and err.code != 429:
                raise ModelSourceError(f"{shown(url)} answered {err.code} {err.reason}", http_fix(err.code)) from None
            raise retry.Retry(f"{err.code} {err.reason}") from None
        except urllib.error.URLError as err:
            if isinstance(err.reason, ssl.SSLCertVerificationError):
                raise ModelSourceError(
                    f"the TLS certificate of {shown(url)} is not trusted ({err.reason.verify_message})",
                    "use a URL with a publicly trusted certificate",
                ) from None
            raise retry.Retry(str(err.reason)) from None
        except (OSError, http.client.HTTPException) as err:
            raise retry.Retry(f"{type(err).__name__}: {err}") from None

    def on_retry(err: retry.Retry, delay: float, number: int) -> None:
        log.warning(
            "download of %s failed (%s); retry %d of %d in %d s", shown(url), err.reason, number, ATTEMPTS - 1, delay
        )

    try:
        retry.call(attempt, retry.DOWNLOAD, on_retry=on_retry)
    except retry.GaveUp as err:
        raise ModelSourceError(
            f"downloading {shown(url)} failed {err.attempts} times (last: {err.reason})",
            "check that the URL is reachable from the runner, then retry",
        ) from None


def http_fix(status: int) -> str:
    if status in (401, 403):
        return "use a URL that needs no login (a public release asset, or a pre-signed URL)"
    if status == 404:
        return "check model-url / tokenizer-url: the file is not there"
    return "check the URL"


def copy_response(url: str, target: Path) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "onnx-package-action"})
    # A fresh opener reads the proxy variables now (urlopen keeps the first ones it saw).
    with urllib.request.build_opener().open(request, timeout=TIMEOUT) as response, target.open("wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        step = int(total * PROGRESS_STEP) if total else 100 * CHUNK
        written, next_report = 0, step
        while block := response.read(CHUNK):
            out.write(block)
            written += len(block)
            if written >= next_report and written != total:
                percent = f"{100 * written // total}%, " if total else ""
                log.info("%s: %s%.1f MB", target.name, percent, written / 1e6)
                next_report += step
    if total and written != total:
        raise http.client.IncompleteRead(b"", total - written)
    log.info("downloaded %s (%.1f MB)", shown(url), written / 1e6)
