"""Shared fixtures: one strict Cloud Monitoring double for the session, sinks built through the registry."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Iterator
from typing import Any

import pytest

from heapster.testing.sinks import SinkBuilder, SinkFactory, with_options
from heapster_sink_stackdriver.testing import MonitoringServer, monitoring_server


@pytest.fixture(scope="session")
def session_server() -> Iterator[MonitoringServer]:
    with monitoring_server() as server:
        yield server


@pytest.fixture
def server(session_server: MonitoringServer) -> MonitoringServer:
    """The session's double, serving and healthy whatever an earlier test did."""
    healthy: MonitoringServer = session_server.healthy()
    return healthy


@pytest.fixture
def project() -> str:
    """A fresh project per test, so series never collide with an earlier test's."""
    return f"p-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_sink(build_sink: SinkBuilder, server: MonitoringServer, project: str) -> SinkFactory:
    """Build and start sinks: ``await make_sink("use_new_resources=true")``."""

    def factory(options: str = "", *, start: bool = True) -> Awaitable[Any]:
        spec = (f"stackdriver:?project={project}&zone=us-central1-a&cluster_name=c1&initial_delay_sec=0"
                f"&endpoint={server.endpoint}&insecure=true")
        return build_sink(with_options(spec, options), start=start)

    return factory
