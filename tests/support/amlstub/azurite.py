"""Azurite (npm `azurite`, installed by `npm ci --prefix tests/sources`) serving blobs over HTTPS."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from azure.storage.blob import BlobServiceClient, ContainerClient

from processes import stop as stop_process

from .certs import Certs
from .state import DEV_ACCOUNT, DEV_KEY

BIN = Path(__file__).resolve().parents[2] / "sources" / "node_modules" / ".bin" / "azurite-blob"
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Azurite:
    """One azurite-blob process on 127.0.0.1, in memory, stopped by close()."""

    def __init__(self, certs: Certs, log: Path) -> None:
        if not BIN.exists():
            raise RuntimeError(f"{BIN} is missing: run `npm ci --prefix tests/sources`")
        self.certs = certs
        self.port = free_port()
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    str(BIN),
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    str(self.port),
                    "--cert",
                    str(certs.cert),
                    "--key",
                    str(certs.key),
                    "--skipApiVersionCheck",
                    "--disableTelemetry",
                    "--loose",
                    "--oauth",
                    "basic",
                    "--inMemoryPersistence",
                    "--extentMemoryLimit",
                    "512",
                    "--silent",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"azurite exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        self.close()
        raise RuntimeError(f"azurite did not listen on port {self.port} within {START_TIMEOUT:.0f} s")

    def service(self) -> BlobServiceClient:
        """A client that talks to Azurite directly (path-style URL), for seeding blobs."""
        return BlobServiceClient(
            f"https://127.0.0.1:{self.port}/{DEV_ACCOUNT}",
            credential={"account_name": DEV_ACCOUNT, "account_key": DEV_KEY},
            connection_verify=str(self.certs.ca),
            use_env_settings=False,
        )

    def container(self, name: str) -> ContainerClient:
        container = self.service().get_container_client(name)
        if not container.exists():
            container.create_container()
        return container

    def upload_folder(self, container: str, folder: Path, prefix: str) -> None:
        """Every file under `folder` to `prefix/<relative path>` in `container`."""
        client = self.container(container)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            with path.open("rb") as data:
                client.upload_blob(f"{prefix}/{path.relative_to(folder).as_posix()}", data, overwrite=True)

    def close(self) -> None:
        stop_process(self.process)
