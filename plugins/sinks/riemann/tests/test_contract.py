"""The core's sink contract through the real SinkQueue, against the strict Riemann double."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from heapster.model import DataBatch, EventBatch, MetricSet, MetricValue
from heapster.testing import EventSinkContract, ServerOutage, SinkContract
from heapster_sink_riemann.events import kubernetes_event, metric_events
from heapster_sink_riemann.testing import RiemannServer


@pytest.fixture
def contract_outage(server: RiemannServer) -> ServerOutage:
    return ServerOutage(server)


def _received(server: RiemannServer) -> list[bytes]:
    return [e.SerializeToString() for e in server.events]


class TestRiemannSinkContract(SinkContract):
    @pytest.fixture
    async def contract_sink(self, make_sink):
        return await make_sink("timeout=1s", start=False)

    @pytest.fixture
    def contract_bad_batch(self) -> DataBatch:
        """A label that is not valid Unicode: protobuf cannot encode it, so it can never be sent."""
        labels: dict[str, Any] = {"type": "node", "nodename": "n", "hostname": "n", "bad": "\ud800"}
        return DataBatch(datetime.now(UTC), {"node:n": MetricSet(labels=labels, values={"m": MetricValue(1)})})

    async def contains(self, sink, batch: DataBatch) -> bool:
        received = _received(self.server)
        return all(e.SerializeToString() in received for e in metric_events(batch, sink.config) if e is not None)

    @pytest.fixture(autouse=True)
    def _server(self, server: RiemannServer) -> None:
        self.server = server


class TestRiemannEventSinkContract(EventSinkContract):
    @pytest.fixture
    async def contract_event_sink(self, make_sink):
        return await make_sink("timeout=1s", events=True, start=False)

    async def contains_events(self, sink, batch: EventBatch) -> bool:
        received = _received(self.server)
        time = int(batch.timestamp.timestamp())
        return all(kubernetes_event(e, time, sink.config).SerializeToString() in received for e in batch.events)

    @pytest.fixture(autouse=True)
    def _server(self, server: RiemannServer) -> None:
        self.server = server
