"""Shared fixtures: one real influxd for the session, and sinks on fresh databases."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster_sink_influxdb.testing import InfluxServer, influxd_server


@pytest.fixture(scope="session")
def influxd() -> Iterator[InfluxServer]:
    with influxd_server() as server:
        yield server


@pytest.fixture
def server(influxd: InfluxServer) -> InfluxServer:
    """The session's influxd, restarted if an earlier test left it stopped."""
    if not influxd.running:
        influxd.start()
    return influxd


@pytest.fixture
def db_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


SinkFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
async def make_sink(server: InfluxServer, db_name: str) -> AsyncIterator[SinkFactory]:
    """Build (through the plugin registry) and start sinks: ``await make_sink("withfields=true")``."""
    plugins = load_plugins()
    built: list[Any] = []

    async def factory(options: str = "", *, events: bool = False, start: bool = True,
                      hostport: str | None = None) -> Any:
        query = f"db={db_name}" + (f"&{options}" if options else "")
        spec = f"influxdb:http://{hostport or server.hostport}?{query}"
        context = PluginContext()
        sink = plugins.build_event_sink(spec, context) if events else plugins.build_metric_sink(spec, context)
        built.append(sink)
        if start:
            await sink.start()
        return sink

    yield factory
    for sink in built:
        await sink.close()
