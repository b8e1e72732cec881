"""The core's sink contract through the real SinkQueue, against the strict Librato API double."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from heapster.model import DataBatch, MetricSet, MetricValue
from heapster.testing import ServerOutage, SinkContract
from heapster.testing.net import HttpServerThread
from heapster_sink_librato.encode import encode_batch
from heapster_sink_librato.testing import LibratoDouble


class TestLibratoSinkContract(SinkContract):
    @pytest.fixture
    async def contract_sink(self, make_sink):
        return await make_sink("prefix=k8s&tags=cluster&tag_cluster=contract")

    @pytest.fixture
    def contract_outage(self, librato_server: HttpServerThread) -> ServerOutage:
        return ServerOutage(librato_server)

    @pytest.fixture
    def contract_bad_batch(self) -> DataBatch:
        """An infinite value: no JSON number carries it, Librato cannot take it."""
        ts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        return DataBatch(ts, {"c": MetricSet(labels={"type": "cluster"},
                                             values={"m": MetricValue(float("inf"))})})

    async def contains(self, sink, batch: DataBatch) -> bool:
        stored = {(m.name, m.value, m.time, tuple(sorted(m.tags.items()))) for m in self.librato.measurements}
        return all((m["name"], m["value"], m["time"], tuple(sorted({**sink.config.tags, **m["tags"]}.items())))
                   in stored for m in encode_batch(batch, sink.config).measurements)

    @pytest.fixture(autouse=True)
    def _double(self, librato: LibratoDouble) -> None:
        self.librato = librato
