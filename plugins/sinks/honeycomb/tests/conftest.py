"""Shared fixtures: one strict Honeycomb double for the session, sinks on fresh datasets."""

from __future__ import annotations

import uuid

import pytest

from heapster.testing.servers import shared_server
from heapster.testing.sinks import SinkBuilder, SinkFactory
from heapster_sink_honeycomb.testing import HoneycombServer, honeycomb_server

WRITEKEY = "test-writekey"


session_server, server = shared_server(lambda _: honeycomb_server(writekeys=(WRITEKEY,)), session="session_server",
                                       each="server")


@pytest.fixture
def dataset() -> str:
    return f"ds-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_sink(build_sink: SinkBuilder, server: HoneycombServer, dataset: str) -> SinkFactory:
    """Build and start sinks through the plugin registry: ``await make_sink(events=True)``."""
    return build_sink.factory(
        lambda writekey=WRITEKEY: f"honeycomb:?dataset={dataset}&writekey={writekey}&apihost={server.url}/")
