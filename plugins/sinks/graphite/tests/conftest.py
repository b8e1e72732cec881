"""One real carbon-cache for the session; sinks built through the plugin registry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster_sink_graphite.testing import CarbonServer, carbon_server


@pytest.fixture(scope="session")
def carbon_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CarbonServer]:
    with carbon_server(tmp_path_factory.mktemp("carbon")) as server:
        yield server


@pytest.fixture
def carbon(carbon_session: CarbonServer) -> CarbonServer:
    """The session's carbon-cache, restarted if an earlier test left it stopped."""
    if not carbon_session.running:
        carbon_session.start()
    return carbon_session


SinkFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
async def make_sink(carbon: CarbonServer) -> AsyncIterator[SinkFactory]:
    """``await make_sink("prefix=x", protocol="udp")``: a graphite sink aimed at the test carbon."""
    plugins = load_plugins()
    built: list[Any] = []

    async def factory(options: str = "", *, protocol: str = "tcp") -> Any:
        port = carbon.line_port if protocol == "tcp" else carbon.udp_port
        sink = plugins.build_metric_sink(f"graphite:{protocol}://127.0.0.1:{port}?{options}", PluginContext())
        built.append(sink)
        return sink

    yield factory
    for sink in built:
        await sink.close()
