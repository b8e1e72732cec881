"""Shared fixtures: one real influxd for the session, and sinks on fresh databases."""

from __future__ import annotations

import uuid

import pytest

from heapster.testing.servers import shared_server
from heapster.testing.sinks import SinkBuilder, SinkFactory
from heapster_sink_influxdb.testing import InfluxServer, influxd_server

influxd, server = shared_server(lambda _: influxd_server(), session="influxd", each="server")


@pytest.fixture
def db_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_sink(build_sink: SinkBuilder, server: InfluxServer, db_name: str) -> SinkFactory:
    """Build (through the plugin registry) and start sinks: ``await make_sink("withfields=true")``."""
    return build_sink.factory(lambda hostport=None: f"influxdb:http://{hostport or server.hostport}?db={db_name}")
