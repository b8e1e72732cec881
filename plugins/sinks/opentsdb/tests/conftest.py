"""One strict OpenTSDB double per test module, on a loopback port, configured as a Heapster deployment
needs it (``tsd.storage.max_tags`` raised, ``tsd.core.auto_create_metrics`` on)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster.testing.net import HttpServerThread
from heapster_sink_opentsdb.testing import OpentsdbDouble


@pytest.fixture
def tsdb() -> OpentsdbDouble:
    return OpentsdbDouble(max_tags=16, auto_create_metrics=True)


@pytest.fixture
def tsdb_server(tsdb: OpentsdbDouble) -> Iterator[HttpServerThread]:
    server = tsdb.serve()
    yield server
    server.close()


SinkFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
async def make_sink(tsdb_server: HttpServerThread) -> AsyncIterator[SinkFactory]:
    """``await make_sink("cluster=prod")``: an opentsdb sink aimed at the double."""
    plugins = load_plugins()
    built: list[Any] = []

    async def factory(options: str = "") -> Any:
        spec = f"opentsdb:http://127.0.0.1:{tsdb_server.port}?{options}"
        sink = plugins.build_metric_sink(spec, PluginContext())
        built.append(sink)
        return sink

    yield factory
    for sink in built:
        await sink.close()
