"""Shared fixtures: one strict Cloud Logging double for the session, event sinks built through the registry."""

from __future__ import annotations

import uuid

import pytest

from heapster.testing.servers import shared_server
from heapster.testing.sinks import SinkBuilder, SinkFactory
from heapster_sink_gcl.testing import LoggingServer, logging_server

session_server, server = shared_server(lambda _: logging_server(), session="session_server", each="server")


@pytest.fixture
def project() -> str:
    return f"p-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_sink(build_sink: SinkBuilder, server: LoggingServer, project: str) -> SinkFactory:
    """Build and start event sinks: ``await make_sink()``."""
    return build_sink.factory(f"gcl:?project={project}&endpoint={server.endpoint}&insecure=true", events=True)
