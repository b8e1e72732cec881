"""Shared fixtures: one strict Riemann double for the session, sinks built through the plugin registry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster_sink_riemann.testing import RiemannServer, riemann_server


@pytest.fixture(scope="session")
def session_server() -> Iterator[RiemannServer]:
    with riemann_server() as server:
        yield server


@pytest.fixture
def server(session_server: RiemannServer) -> RiemannServer:
    """The session's double, listening again if an earlier test left it stopped."""
    if session_server._server is None:
        session_server.start()
    return session_server


SinkFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
async def make_sink(server: RiemannServer) -> AsyncIterator[SinkFactory]:
    """Build and start sinks: ``await make_sink("ttl=30&tags=a&tags=b", events=True)``."""
    plugins = load_plugins()
    built: list[Any] = []

    async def factory(options: str = "", *, events: bool = False, start: bool = True) -> Any:
        spec = f"riemann:tcp://{server.address}" + (f"?{options}" if options else "")
        sink = (plugins.build_event_sink if events else plugins.build_metric_sink)(spec, PluginContext())
        built.append(sink)
        if start:
            await sink.start()
        return sink

    yield factory
    for sink in built:
        await sink.close()
