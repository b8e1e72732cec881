"""A strict Librato API double per test, on a loopback port; sinks built through the plugin registry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster.testing.net import HttpServerThread
from heapster_sink_librato.testing import LibratoDouble


@pytest.fixture
def librato() -> LibratoDouble:
    return LibratoDouble()


@pytest.fixture
def librato_server(librato: LibratoDouble) -> Iterator[HttpServerThread]:
    server = librato.serve()
    yield server
    server.close()


SinkFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
async def make_sink(librato: LibratoDouble, librato_server: HttpServerThread) -> AsyncIterator[SinkFactory]:
    """``await make_sink("prefix=k8s")``: a librato sink with the double's credentials and address."""
    plugins = load_plugins()
    built: list[Any] = []

    async def factory(options: str = "", *, token: str | None = None) -> Any:
        spec = (f"librato:?username={librato.username}&token={token or librato.token}"
                f"&api={librato_server.url}&{options}")
        sink = plugins.build_metric_sink(spec, PluginContext())
        built.append(sink)
        return sink

    yield factory
    for sink in built:
        await sink.close()
