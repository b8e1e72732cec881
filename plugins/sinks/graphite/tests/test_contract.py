"""The core's sink contract through the real SinkQueue, against a real carbon-cache stopped and restarted."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from heapster.model import DataBatch, MetricSet, MetricValue
from heapster.testing import SinkContract
from heapster.testing.net import async_wait_until
from heapster_sink_graphite.encode import encode_batch
from heapster_sink_graphite.testing import CarbonServer


class Outage:
    """Stops carbon-cache once it has written what the sink sent so far, and starts it again.

    carbon-cache keeps received points in memory for up to a second before writing them, and drops
    that cache when stopped; waiting first keeps this test about the sink, not about carbon.
    """

    def __init__(self, server: CarbonServer, sent: list[tuple[DataBatch, str]]) -> None:
        self.server = server
        self.sent = sent

    async def stop(self) -> None:
        for batch, prefix in self.sent:
            await async_wait_until(lambda b=batch, p=prefix: stored(self.server, b, p), 20.0,
                                   what="carbon to write what it received")
        await asyncio.to_thread(self.server.stop)

    async def start(self) -> None:
        await asyncio.to_thread(self.server.start)


def stored(server: CarbonServer, batch: DataBatch, prefix: str) -> bool:
    """Whether carbon wrote every line of the batch (path, value and timestamp)."""
    for line in encode_batch(batch, prefix).lines:
        path, value, timestamp = line.split()
        if server.series(path).get(int(timestamp)) != float(value):
            return False
    return True


class _Contract(SinkContract):
    prefix = ""

    @pytest.fixture
    def contract_outage(self, carbon: CarbonServer) -> Outage:
        return Outage(carbon, self.sent)

    @pytest.fixture
    def contract_bad_batch(self) -> DataBatch:
        """A container name with a space: carbon would split the line, so the sink refuses that value."""
        ts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        labels = {"type": "pod_container", "hostname": "n", "namespace_name": "default", "pod_name": "p",
                  "container_name": "bad name"}
        return DataBatch(ts, {"c": MetricSet(labels=labels, values={"memory/usage": MetricValue(1)})})

    async def contains(self, sink, batch: DataBatch) -> bool:
        await async_wait_until(lambda: stored(self.carbon, batch, sink.config.prefix), 20.0,
                               what="carbon to write the batch")
        return True

    @pytest.fixture(autouse=True)
    def _server(self, carbon: CarbonServer) -> None:
        self.carbon = carbon
        self.sent: list[tuple[DataBatch, str]] = []

    def remember_exports(self, sink):
        """Wrap ``sink.export`` to note every batch it delivered (for :class:`Outage`)."""
        export = sink.export

        async def recording_export(batch: DataBatch) -> None:
            await export(batch)
            self.sent.append((batch, sink.config.prefix))

        sink.export = recording_export
        return sink


class TestGraphiteTcpContract(_Contract):
    @pytest.fixture
    async def contract_sink(self, make_sink):
        return self.remember_exports(await make_sink(f"prefix=t{uuid.uuid4().hex[:8]}"))


class TestGraphiteUdpContract(_Contract):
    @pytest.fixture
    async def contract_sink(self, make_sink):
        return self.remember_exports(await make_sink(f"prefix=u{uuid.uuid4().hex[:8]}", protocol="udp"))
