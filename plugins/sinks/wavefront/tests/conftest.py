"""A strict Wavefront proxy double per test; sinks built through the plugin registry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster_sink_wavefront.testing import WavefrontProxyDouble


@pytest.fixture
def proxy() -> Iterator[WavefrontProxyDouble]:
    double = WavefrontProxyDouble()
    double.start()
    yield double
    double.close()


SinkFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
async def make_sink(proxy: WavefrontProxyDouble) -> AsyncIterator[SinkFactory]:
    """``await make_sink("includeLabels=true")``: a wavefront sink aimed at the double (Heapster's URI form)."""
    plugins = load_plugins()
    built: list[Any] = []

    async def factory(options: str = "") -> Any:
        sink = plugins.build_metric_sink(f"wavefront:localhost:{proxy.port}?{options}", PluginContext())
        built.append(sink)
        return sink

    yield factory
    for sink in built:
        await sink.close()
