"""Shared fixtures: one strict Honeycomb double for the session, sinks on fresh datasets."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Iterator
from typing import Any

import pytest

from heapster.testing.sinks import SinkBuilder, SinkFactory, with_options
from heapster_sink_honeycomb.testing import HoneycombServer, honeycomb_server

WRITEKEY = "test-writekey"


@pytest.fixture(scope="session")
def session_server() -> Iterator[HoneycombServer]:
    with honeycomb_server(writekeys=(WRITEKEY,)) as server:
        yield server


@pytest.fixture
def server(session_server: HoneycombServer) -> HoneycombServer:
    """The session's double, listening and healthy again whatever an earlier test did."""
    session_server.fail_with = None
    if not session_server.running:
        session_server.start()
    return session_server


@pytest.fixture
def dataset() -> str:
    return f"ds-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_sink(build_sink: SinkBuilder, server: HoneycombServer, dataset: str) -> SinkFactory:
    """Build and start sinks through the plugin registry: ``await make_sink(events=True)``."""

    def factory(options: str = "", *, events: bool = False, start: bool = True,
                writekey: str = WRITEKEY) -> Awaitable[Any]:
        spec = f"honeycomb:?dataset={dataset}&writekey={writekey}&apihost={server.url}/"
        return build_sink(with_options(spec, options), events=events, start=start)

    return factory
