"""Real servers for the eventer's end-to-end tests: influxd (session), osmem-server (session, cloned per test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from heapster_sink_elasticsearch.testing import opensearch_server, opensearch_url
from heapster_sink_influxdb.testing import InfluxServer, influxd_server

__all__ = ["influxd", "opensearch_server", "opensearch_url"]


@pytest.fixture(scope="session")
def influxd() -> Iterator[InfluxServer]:
    """One real influxd for the session; tests use their own databases."""
    with influxd_server() as server:
        yield server
