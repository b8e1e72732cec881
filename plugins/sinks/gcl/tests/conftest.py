"""Shared fixtures: one strict Cloud Logging double for the session, event sinks built through the registry."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Iterator
from typing import Any

import pytest

from heapster.testing.sinks import SinkBuilder, SinkFactory, with_options
from heapster_sink_gcl.testing import LoggingServer, logging_server


@pytest.fixture(scope="session")
def session_server() -> Iterator[LoggingServer]:
    with logging_server() as server:
        yield server


@pytest.fixture
def server(session_server: LoggingServer) -> LoggingServer:
    """The session's double, serving and healthy whatever an earlier test did."""
    healthy: LoggingServer = session_server.healthy()
    return healthy


@pytest.fixture
def project() -> str:
    return f"p-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_sink(build_sink: SinkBuilder, server: LoggingServer, project: str) -> SinkFactory:
    """Build and start event sinks: ``await make_sink()``."""

    def factory(options: str = "", *, start: bool = True) -> Awaitable[Any]:
        spec = f"gcl:?project={project}&endpoint={server.endpoint}&insecure=true"
        return build_sink(with_options(spec, options), events=True, start=start)

    return factory
