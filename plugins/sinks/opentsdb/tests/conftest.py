"""One strict OpenTSDB double per test module, on a loopback port, configured as a Heapster deployment
needs it (``tsd.storage.max_tags`` raised, ``tsd.core.auto_create_metrics`` on)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from heapster.testing.net import HttpServerThread
from heapster.testing.sinks import SinkBuilder, SinkFactory
from heapster_sink_opentsdb.testing import OpentsdbDouble


@pytest.fixture
def tsdb() -> OpentsdbDouble:
    return OpentsdbDouble(max_tags=16, auto_create_metrics=True)


@pytest.fixture
def tsdb_server(tsdb: OpentsdbDouble) -> Iterator[HttpServerThread]:
    with tsdb.serve() as server:
        yield server


@pytest.fixture
def make_sink(build_sink: SinkBuilder, tsdb_server: HttpServerThread) -> SinkFactory:
    """``await make_sink("cluster=prod")``: an opentsdb sink aimed at the double."""
    return build_sink.factory(f"opentsdb:http://127.0.0.1:{tsdb_server.port}", start=False)
