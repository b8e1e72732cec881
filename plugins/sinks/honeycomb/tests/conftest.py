"""Shared fixtures: one strict Honeycomb double for the session, sinks on fresh datasets."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster_sink_honeycomb.testing import HoneycombServer, honeycomb_server

WRITEKEY = "test-writekey"


@pytest.fixture(scope="session")
def session_server() -> Iterator[HoneycombServer]:
    with honeycomb_server(writekeys=(WRITEKEY,)) as server:
        yield server


@pytest.fixture
def server(session_server: HoneycombServer) -> HoneycombServer:
    """The session's double, listening and healthy again whatever an earlier test did."""
    session_server.fail_with = None
    if not session_server.running:
        session_server.start()
    return session_server


@pytest.fixture
def dataset() -> str:
    return f"ds-{uuid.uuid4().hex[:10]}"


SinkFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
async def make_sink(server: HoneycombServer, dataset: str) -> AsyncIterator[SinkFactory]:
    """Build and start sinks through the plugin registry: ``await make_sink(events=True)``."""
    plugins = load_plugins()
    built: list[Any] = []

    async def factory(options: str = "", *, events: bool = False, start: bool = True, writekey: str = WRITEKEY) -> Any:
        spec = f"honeycomb:?dataset={dataset}&writekey={writekey}&apihost={server.url}/" + (
            f"&{options}" if options else "")
        sink = (plugins.build_event_sink if events else plugins.build_metric_sink)(spec, PluginContext())
        built.append(sink)
        if start:
            await sink.start()
        return sink

    yield factory
    for sink in built:
        await sink.close()
