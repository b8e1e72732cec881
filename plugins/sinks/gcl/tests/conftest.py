"""Shared fixtures: one strict Cloud Logging double for the session, event sinks built through the registry."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster_sink_gcl.testing import LoggingServer, logging_server


@pytest.fixture(scope="session")
def session_server() -> Iterator[LoggingServer]:
    with logging_server() as server:
        yield server


@pytest.fixture
def server(session_server: LoggingServer) -> LoggingServer:
    """The session's double, serving and healthy whatever an earlier test did."""
    session_server.fail_with = None
    if not session_server.running:
        session_server.start()
    return session_server


@pytest.fixture
def project() -> str:
    return f"p-{uuid.uuid4().hex[:12]}"


SinkFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
async def make_sink(server: LoggingServer, project: str) -> AsyncIterator[SinkFactory]:
    """Build and start event sinks: ``await make_sink()``."""
    plugins = load_plugins()
    built: list[Any] = []

    async def factory(options: str = "", *, start: bool = True) -> Any:
        spec = f"gcl:?project={project}&endpoint={server.endpoint}&insecure=true" + (f"&{options}" if options else "")
        sink = plugins.build_event_sink(spec, PluginContext())
        built.append(sink)
        if start:
            await sink.start()
        return sink

    yield factory
    for sink in built:
        await sink.close()
