"""Shared fixtures: one strict Riemann double for the session, sinks built through the plugin registry."""

from __future__ import annotations

import pytest

from heapster.testing.servers import shared_server
from heapster.testing.sinks import SinkBuilder, SinkFactory
from heapster_sink_riemann.testing import RiemannServer, riemann_server

session_server, server = shared_server(lambda _: riemann_server(), session="session_server", each="server")


@pytest.fixture
def make_sink(build_sink: SinkBuilder, server: RiemannServer) -> SinkFactory:
    """Build and start sinks: ``await make_sink("ttl=30&tags=a&tags=b", events=True)``."""
    return build_sink.factory(f"riemann:tcp://{server.address}")
