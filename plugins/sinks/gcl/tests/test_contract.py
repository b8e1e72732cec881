"""The core's event sink contract through the real SinkQueue, against the strict Cloud Logging double."""

from __future__ import annotations

import pytest

from heapster.model import EventBatch
from heapster.testing import EventSinkContract, ServerOutage
from heapster_sink_gcl.testing import LoggingServer


@pytest.fixture
def contract_outage(server: LoggingServer) -> ServerOutage:
    return ServerOutage(server)


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
