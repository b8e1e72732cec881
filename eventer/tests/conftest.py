"""Real servers for the eventer's end-to-end tests: influxd (session), osmem-server (session, cloned per test);
eventer processes killed when their test ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from heapster.testing.net import PATIENCE
from heapster_eventer.testing import EventerProcess
from heapster_sink_elasticsearch.testing import opensearch_server, opensearch_url
from heapster_sink_influxdb.testing import InfluxServer, influxd_server

__all__ = ["influxd", "opensearch_server", "opensearch_url"]


@pytest.fixture(scope="session")
def influxd() -> Iterator[InfluxServer]:
    """One real influxd for the session; tests use their own databases."""
    with influxd_server() as server:
        yield server


@pytest.fixture
def eventers() -> Iterator[Callable[[list[str], Path], EventerProcess]]:
    """Start eventers (``eventers(args, log_path)``, ready within 2 x PATIENCE: a start took over 120 s at load
    ~25); every one still running when the test ends, passed or failed, is killed."""
    started: list[EventerProcess] = []

    def start(args: list[str], log_path: Path) -> EventerProcess:
        eventer = EventerProcess(args, log_path)
        started.append(eventer)
        return eventer.start(ready_within=2 * PATIENCE)

    yield start
    for eventer in started:
        eventer.kill()
