"""The core's event sink contract through the real SinkQueue, against the strict Cloud Logging double."""

from __future__ import annotations

import asyncio

import pytest

from heapster.model import EventBatch
from heapster.testing import EventSinkContract
from heapster_sink_gcl.testing import LoggingServer


class Outage:
    """Stops the double's gRPC server, then serves again on the same port."""

    def __init__(self, server: LoggingServer) -> None:
        self.server = server

    async def stop(self) -> None:
        await asyncio.to_thread(self.server.stop)

    async def start(self) -> None:
        await asyncio.to_thread(self.server.start)


@pytest.fixture
def contract_outage(server: LoggingServer) -> Outage:
    return Outage(server)


class TestGclEventSinkContract(EventSinkContract):
    @pytest.fixture
    async def contract_event_sink(self, make_sink):
        return await make_sink("timeout=2s", start=False)

    async def contains_events(self, sink, batch: EventBatch) -> bool:
        written = {(e.log_name, e.insert_id, e.json_payload["count"]) for e in self.server.entries}
        return all((f"projects/{sink.project}/logs/kubernetes.io%2Fevents", e["metadata"]["uid"], e["count"]) in written
                   for e in batch.events)

    @pytest.fixture(autouse=True)
    def _server(self, server: LoggingServer) -> None:
        self.server = server
