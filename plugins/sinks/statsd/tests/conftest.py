"""One real statsd daemon for the session; sinks built through the plugin registry."""

from __future__ import annotations

import pytest

from heapster.testing.servers import shared_server
from heapster.testing.sinks import SinkBuilder, SinkFactory
from heapster_sink_statsd.testing import StatsdDaemon, statsd_daemon

statsd_session, statsd = shared_server(lambda tmp: statsd_daemon(tmp.mktemp("statsd")), session="statsd_session",
                                       each="statsd")


@pytest.fixture
def make_sink(build_sink: SinkBuilder, statsd: StatsdDaemon) -> SinkFactory:
    """``await make_sink("protocolType=influxstatsd")``: a statsd sink aimed at the test daemon."""
    return build_sink.factory(f"statsd:udp://127.0.0.1:{statsd.port}", start=False)
