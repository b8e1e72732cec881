"""One real carbon-cache for the session; sinks built through the plugin registry."""

from __future__ import annotations

import pytest

from heapster.testing.servers import shared_server
from heapster.testing.sinks import SinkBuilder, SinkFactory
from heapster_sink_graphite.testing import CarbonServer, carbon_server

carbon_session, carbon = shared_server(lambda tmp: carbon_server(tmp.mktemp("carbon")), session="carbon_session",
                                       each="carbon")


@pytest.fixture
def make_sink(build_sink: SinkBuilder, carbon: CarbonServer) -> SinkFactory:
    """``await make_sink("prefix=x", protocol="udp")``: a graphite sink aimed at the test carbon."""
    ports = {"tcp": carbon.line_port, "udp": carbon.udp_port}
    return build_sink.factory(lambda protocol="tcp": f"graphite:{protocol}://127.0.0.1:{ports[protocol]}", start=False)
