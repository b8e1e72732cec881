"""Shared fixtures: one strict Cloud Monitoring double for the session, sinks built through the registry."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster_sink_stackdriver.testing import MonitoringServer, monitoring_server


@pytest.fixture(scope="session")
def session_server() -> Iterator[MonitoringServer]:
    with monitoring_server() as server:
        yield server


@pytest.fixture
def server(session_server: MonitoringServer) -> MonitoringServer:
    """The session's double, serving and healthy whatever an earlier test did."""
    session_server.fail_with = None
    if not session_server.running:
        session_server.start()
    return session_server


@pytest.fixture
def project() -> str:
    """A fresh project per test, so series never collide with an earlier test's."""
    return f"p-{uuid.uuid4().hex[:12]}"


SinkFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
async def make_sink(server: MonitoringServer, project: str) -> AsyncIterator[SinkFactory]:
    """Build and start sinks: ``await make_sink("use_new_resources=true")``."""
    plugins = load_plugins()
    built: list[Any] = []

    async def factory(options: str = "", *, start: bool = True) -> Any:
        spec = (f"stackdriver:?project={project}&zone=us-central1-a&cluster_name=c1&initial_delay_sec=0"
                f"&endpoint={server.endpoint}&insecure=true" + (f"&{options}" if options else ""))
        sink = plugins.build_metric_sink(spec, PluginContext())
        built.append(sink)
        if start:
            await sink.start()
        return sink

    yield factory
    for sink in built:
        await sink.close()
