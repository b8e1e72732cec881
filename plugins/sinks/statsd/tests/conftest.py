"""One real statsd daemon for the session; sinks built through the plugin registry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster_sink_statsd.testing import StatsdDaemon, statsd_daemon


@pytest.fixture(scope="session")
def statsd_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StatsdDaemon]:
    with statsd_daemon(tmp_path_factory.mktemp("statsd")) as daemon:
        yield daemon


@pytest.fixture
def statsd(statsd_session: StatsdDaemon) -> StatsdDaemon:
    """The session's daemon, restarted if an earlier test left it stopped."""
    if not statsd_session.running:
        statsd_session.start()
    return statsd_session


SinkFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
async def make_sink(statsd: StatsdDaemon) -> AsyncIterator[SinkFactory]:
    """``await make_sink("protocolType=influxstatsd")``: a statsd sink aimed at the test daemon."""
    plugins = load_plugins()
    built: list[Any] = []

    async def factory(options: str = "") -> Any:
        sink = plugins.build_metric_sink(f"statsd:udp://127.0.0.1:{statsd.port}?{options}", PluginContext())
        built.append(sink)
        return sink

    yield factory
    for sink in built:
        await sink.close()
