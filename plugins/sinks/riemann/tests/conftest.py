"""Shared fixtures: one strict Riemann double for the session, sinks built through the plugin registry."""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from typing import Any

import pytest

from heapster.testing.sinks import SinkBuilder, SinkFactory, with_options
from heapster_sink_riemann.testing import RiemannServer, riemann_server


@pytest.fixture(scope="session")
def session_server() -> Iterator[RiemannServer]:
    with riemann_server() as server:
        yield server


@pytest.fixture
def server(session_server: RiemannServer) -> RiemannServer:
    """The session's double, listening again if an earlier test left it stopped."""
    if session_server._server is None:
        session_server.start()
    return session_server


@pytest.fixture
def make_sink(build_sink: SinkBuilder, server: RiemannServer) -> SinkFactory:
    """Build and start sinks: ``await make_sink("ttl=30&tags=a&tags=b", events=True)``."""

    def factory(options: str = "", *, events: bool = False, start: bool = True) -> Awaitable[Any]:
        return build_sink(with_options(f"riemann:tcp://{server.address}", options), events=events, start=start)

    return factory
