"""The core's sink contract through the real SinkQueue, against the strict OpenTSDB double."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from heapster.model import DataBatch, MetricSet, MetricValue
from heapster.testing import ServerOutage, SinkContract
from heapster.testing.net import HttpServerThread
from heapster_sink_opentsdb.encode import encode_batch
from heapster_sink_opentsdb.testing import OpentsdbDouble


class TestOpentsdbSinkContract(SinkContract):
    @pytest.fixture
    async def contract_sink(self, make_sink):
        return await make_sink("cluster=contract")

    @pytest.fixture
    def contract_outage(self, tsdb_server: HttpServerThread) -> ServerOutage:
        return ServerOutage(tsdb_server)

    @pytest.fixture
    def contract_bad_batch(self) -> DataBatch:
        """A metric set with more labels than OpenTSDB takes tags."""
        ts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        labels = {"type": "node", **{f"label{i}": "x" for i in range(20)}}
        return DataBatch(ts, {"n": MetricSet(labels=labels, values={"memory/usage": MetricValue(1)})})

    async def contains(self, sink, batch: DataBatch) -> bool:
        stored = {(p.metric, p.timestamp, p.value, p.tags) for p in self.tsdb.points}
        return all((p["metric"], p["timestamp"], float(p["value"]), tuple(sorted(p["tags"].items()))) in stored
                   for p in encode_batch(batch, sink.config.cluster).points)

    @pytest.fixture(autouse=True)
    def _double(self, tsdb: OpentsdbDouble) -> None:
        self.tsdb = tsdb
