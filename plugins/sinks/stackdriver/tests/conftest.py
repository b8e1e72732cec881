"""Shared fixtures: one strict Cloud Monitoring double for the session, sinks built through the registry."""

from __future__ import annotations

import uuid

import pytest

from heapster.testing.servers import shared_server
from heapster.testing.sinks import SinkBuilder, SinkFactory
from heapster_sink_stackdriver.testing import MonitoringServer, monitoring_server

session_server, server = shared_server(lambda _: monitoring_server(), session="session_server", each="server")


@pytest.fixture
def project() -> str:
    """A fresh project per test, so series never collide with an earlier test's."""
    return f"p-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_sink(build_sink: SinkBuilder, server: MonitoringServer, project: str) -> SinkFactory:
    """Build and start sinks: ``await make_sink("use_new_resources=true")``."""
    return build_sink.factory(f"stackdriver:?project={project}&zone=us-central1-a&cluster_name=c1&initial_delay_sec=0"
                              f"&endpoint={server.endpoint}&insecure=true")
