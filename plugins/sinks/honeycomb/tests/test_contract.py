"""The core's sink contract through the real SinkQueue, against the strict Honeycomb double."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from heapster.model import DataBatch, EventBatch, MetricSet, MetricValue
from heapster.testing import EventSinkContract, ServerOutage, SinkContract
from heapster_sink_honeycomb.events import event_item, metric_items
from heapster_sink_honeycomb.testing import HoneycombServer


@pytest.fixture
def contract_outage(server: HoneycombServer) -> ServerOutage:
    return ServerOutage(server)


def _received(server: HoneycombServer, dataset: str) -> list[tuple[str, str | None]]:
    return [(json.dumps(e.data, sort_keys=True), e.time) for e in server.events if e.dataset == dataset]


def _expected(texts: list[str]) -> list[tuple[str, str | None]]:
    items = [json.loads(t) for t in texts]
    return [(json.dumps(i["data"], sort_keys=True), i["time"]) for i in items]


class TestHoneycombSinkContract(SinkContract):
    @pytest.fixture
    async def contract_sink(self, make_sink):
        return await make_sink("timeout=2s", start=False)

    @pytest.fixture
    def contract_bad_batch(self) -> DataBatch:
        """An event over Honeycomb's 1 MB event size: refused for good."""
        labels = {"type": "node", "nodename": "n", "note": "x" * 1_100_000}
        return DataBatch(datetime.now(UTC), {"node:n": MetricSet(labels=labels, values={"m": MetricValue(1)})})

    async def contains(self, sink, batch: DataBatch) -> bool:
        received = _received(self.server, sink.config.dataset)
        return all(item in received for item in _expected([t for t, _ in metric_items(batch)]))

    @pytest.fixture(autouse=True)
    def _server(self, server: HoneycombServer) -> None:
        self.server = server


class TestHoneycombEventSinkContract(EventSinkContract):
    @pytest.fixture
    async def contract_event_sink(self, make_sink):
        return await make_sink("timeout=2s", events=True, start=False)

    async def contains_events(self, sink, batch: EventBatch) -> bool:
        received = _received(self.server, sink.config.dataset)
        return all(item in received for item in _expected([event_item(e) for e in batch.events]))

    @pytest.fixture(autouse=True)
    def _server(self, server: HoneycombServer) -> None:
        self.server = server
