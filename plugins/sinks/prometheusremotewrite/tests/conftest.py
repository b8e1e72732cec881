"""One real Prometheus (remote-write receiver on) for the module, and a strict stand-in for failures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from heapster_sink_prometheus.testing import PrometheusServer, prometheus_server


@pytest.fixture(scope="session")
def prometheus() -> Iterator[PrometheusServer]:
    with prometheus_server() as server:
        yield server


@pytest.fixture
def receiver(prometheus: PrometheusServer) -> PrometheusServer:
    """The session's Prometheus, restarted if an earlier test left it stopped."""
    if not prometheus.running:
        prometheus.start()
    return prometheus
