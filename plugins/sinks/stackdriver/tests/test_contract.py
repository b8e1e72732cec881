"""The core's sink contract through the real SinkQueue, against the strict Cloud Monitoring double."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from heapster.model import DataBatch
from heapster.testing import ServerOutage, SinkContract, synthetic_batch
from heapster_sink_stackdriver.testing import MonitoringServer, series_key
from heapster_sink_stackdriver.translate import time_series


@pytest.fixture
def contract_outage(server: MonitoringServer) -> ServerOutage:
    return ServerOutage(server)


class TestStackdriverSinkContract(SinkContract):
    @pytest.fixture
    async def contract_sink(self, make_sink):
        return await make_sink("use_new_resources=true&batch_export_timeout_sec=2", start=False)

    @pytest.fixture
    def contract_bad_batch(self) -> DataBatch:
        """Two days old: Cloud Monitoring refuses points older than 25 hours."""
        return synthetic_batch(datetime.now(UTC).replace(microsecond=0) - timedelta(days=2), nodes=1, pods=1,
                               containers=1)

    async def contains(self, sink, batch: DataBatch) -> bool:
        if sink.target is None:
            return False
        expected = list(time_series(batch, sink.target))
        return bool(expected) and all(
            self.server.value_at(series_key(s), batch.timestamp) is not None for s in expected)

    @pytest.fixture(autouse=True)
    def _server(self, server: MonitoringServer) -> None:
        self.server = server
