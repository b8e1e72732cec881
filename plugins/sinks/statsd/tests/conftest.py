"""One real statsd daemon for the session; sinks built through the plugin registry."""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from typing import Any

import pytest

from heapster.testing.sinks import SinkBuilder, SinkFactory, with_options
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


@pytest.fixture
def make_sink(build_sink: SinkBuilder, statsd: StatsdDaemon) -> SinkFactory:
    """``await make_sink("protocolType=influxstatsd")``: a statsd sink aimed at the test daemon."""

    def factory(options: str = "") -> Awaitable[Any]:
        return build_sink(with_options(f"statsd:udp://127.0.0.1:{statsd.port}", options))

    return factory
