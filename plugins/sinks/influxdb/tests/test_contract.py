"""The core's sink contract (through the real SinkQueue), with influxd stopped and restarted for outages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from heapster.model import DataBatch, EventBatch, MetricSet, MetricValue
from heapster.testing import EventSinkContract, ServerOutage, SinkContract
from heapster.timefmt import epoch_nanos
from heapster_sink_influxdb.testing import InfluxServer


@pytest.fixture
def contract_outage(server: InfluxServer) -> ServerOutage:
    return ServerOutage(server)


def _stored_at(server: InfluxServer, db: str, timestamp: datetime) -> int:
    """How many field values are stored at one timestamp, over every measurement."""
    ns = epoch_nanos(timestamp)
    results = server.query(f"SELECT COUNT(*) FROM /.*/ WHERE time = {ns}", db)
    return sum(v for s in results[0].get("series", []) for v in s["values"][0][1:] if v)


class TestInfluxdbSinkContract(SinkContract):
    @pytest.fixture
    async def contract_sink(self, make_sink):
        return await make_sink(start=False)

    @pytest.fixture
    def contract_bad_batch(self) -> DataBatch:
        """Two values of one new field with different types: InfluxDB refuses one of them for good."""
        ts = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        labels = {"type": "node"}
        return DataBatch(ts, {
            "node:a": MetricSet(labels={**labels, "nodename": "a"}, values={"custom/bad": MetricValue(1)}),
            "node:b": MetricSet(labels={**labels, "nodename": "b"}, values={"custom/bad": MetricValue(1.5)}),
        })

    async def contains(self, sink, batch: DataBatch) -> bool:
        expected = len(list(sink.schema.lines(batch)))
        return await asyncio.to_thread(_stored_at, self.server, sink.config.db, batch.timestamp) == expected

    @pytest.fixture(autouse=True)
    def _server(self, server: InfluxServer) -> None:
        self.server = server


class TestInfluxdbEventSinkContract(EventSinkContract):
    @pytest.fixture
    async def contract_event_sink(self, make_sink):
        return await make_sink(events=True, start=False)

    async def contains_events(self, sink, batch: EventBatch) -> bool:
        uids = [e["metadata"]["uid"] for e in batch.events]
        pattern = "|".join(uids)
        results = await asyncio.to_thread(
            self.server.query, f'SELECT "value" FROM "log/events" WHERE "uid" =~ /^({pattern})$/ GROUP BY "uid"',
            sink.config.db)
        found = {s["tags"]["uid"] for s in results[0].get("series", [])}
        return found == set(uids)

    @pytest.fixture(autouse=True)
    def _server(self, server: InfluxServer) -> None:
        self.server = server
