"""Fixtures for the registry tests: a small image assembled as the tool assembles one (push_images.py), and
fault proxies."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import docker
import pytest
from push_images import Builder, import_tiny_base, make_context

from fault_proxy import FaultProxy


@pytest.fixture(scope="session")
def builder(docker_client: docker.DockerClient) -> Iterator[Builder]:
    base = import_tiny_base(docker_client, "onnx-package-test/registry-base:tiny")
    yield Builder(docker_client, base)
    docker_client.images.remove(base, force=True)


@pytest.fixture(scope="session")
def mini_image(builder: Builder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The id of one small image assembled as the tool does, shared by the push tests."""
    tag = "onnx-package-test/registry-mini:session"
    image_id = builder.build(make_context(tmp_path_factory.mktemp("mini")), tag)
    yield image_id
    builder.client.images.remove(tag, force=True)


@pytest.fixture
def fault_proxy() -> Iterator[Callable[[str], FaultProxy]]:
    """start(upstream_url) -> a running FaultProxy; all stopped after the test."""
    started: list[FaultProxy] = []

    def start(upstream: str) -> FaultProxy:
        proxy = FaultProxy(upstream).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
