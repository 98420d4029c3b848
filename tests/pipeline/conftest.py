"""Fixtures of the failing-run tests (the reliability promises on the whole run).

bed        Bed: this test's folder, the two session registries, a unique repository path, the base image
azure_ws   AzureWorkspace: the local Azure ML stand-in with model wine versions 1 and 2 (module)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from bed import AzureWorkspace, Bed

if TYPE_CHECKING:
    from testbed import DockerCleanup, Registry


@pytest.fixture
def bed(
    tmp_path: Path, registry: Registry, auth_registry: Registry, docker_cleanup: DockerCleanup, base_image: str
) -> Bed:
    return Bed(tmp_path, (registry, auth_registry), docker_cleanup.prefix, base_image)


@pytest.fixture(scope="module")
def azure_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureWorkspace]:
    """Workspace ws (resource group rg) holding model wine versions 1 and 2, readable by one app."""
    from amlstub.azurite import BIN
    from amlstub.certs import make_certs
    from amlstub.helpers import model_folder, sdk_auth
    from amlstub.world import SUBSCRIPTION, AzureWorld

    if not BIN.exists():
        pytest.skip(f"Azurite is not installed ({BIN}): run `npm ci --prefix tests/sources`")
    folder = tmp_path_factory.mktemp("azure")
    world = AzureWorld(folder, make_certs(folder))
    try:
        client, secret = "5e1a0000-0000-4000-8000-0000000000aa", "rel-Secret~0123456789"
        world.add_app(client, secret=secret)
        workspace = world.add_workspace()
        for version in ("1", "2"):
            world.register_workspace_model(workspace, "wine", version, model_folder(folder / f"v{version}"))
        yield AzureWorkspace(SUBSCRIPTION, sdk_auth(client, secret), secret, world.environ())
    finally:
        world.close()
