"""Shared fixtures: one real influxd for the session, and sinks on fresh databases."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Iterator
from typing import Any

import pytest

from heapster.testing.sinks import SinkBuilder, SinkFactory, with_options
from heapster_sink_influxdb.testing import InfluxServer, influxd_server


@pytest.fixture(scope="session")
def influxd() -> Iterator[InfluxServer]:
    with influxd_server() as server:
        yield server


@pytest.fixture
def server(influxd: InfluxServer) -> InfluxServer:
    """The session's influxd, restarted if an earlier test left it stopped."""
    if not influxd.running:
        influxd.start()
    return influxd


@pytest.fixture
def db_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_sink(build_sink: SinkBuilder, server: InfluxServer, db_name: str) -> SinkFactory:
    """Build (through the plugin registry) and start sinks: ``await make_sink("withfields=true")``."""

    def factory(options: str = "", *, events: bool = False, start: bool = True,
                hostport: str | None = None) -> Awaitable[Any]:
        spec = f"influxdb:http://{hostport or server.hostport}?db={db_name}"
        return build_sink(with_options(spec, options), events=events, start=start)

    return factory
