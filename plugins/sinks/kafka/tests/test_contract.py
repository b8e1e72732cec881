"""The core's sink contract through the real SinkQueue, against a real broker that is paused for outages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from heapster.model import DataBatch, EventBatch, MetricSet, MetricValue
from heapster.testing import EventSinkContract, SinkContract
from heapster_sink_kafka.messages import event_message, metric_messages
from heapster_sink_kafka.testing import KafkaBroker, read_topic


class Outage:
    """Pauses the broker process (SIGSTOP) and resumes it; its messages survive."""

    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker

    async def stop(self) -> None:
        self.broker.pause()

    async def start(self) -> None:
        self.broker.resume()


@pytest.fixture
def contract_outage(broker: KafkaBroker) -> Outage:
    return Outage(broker)


class TestKafkaSinkContract(SinkContract):
    @pytest.fixture
    async def contract_sink(self, make_sink):
        return await make_sink("timeout=2s", start=False)

    @pytest.fixture
    def contract_bad_batch(self) -> DataBatch:
        """A message over the 1 MiB Kafka message limit: refused for good."""
        huge = {"type": "node", "nodename": "n", "note": "x" * 1_100_000}
        return DataBatch(datetime.now(UTC), {"node:n": MetricSet(labels=huge, values={"cpu/usage": MetricValue(1)})})

    async def contains(self, sink, batch: DataBatch) -> bool:
        stored = set(await read_topic(self.broker.bootstrap, sink.config.topic))
        return {m for m in metric_messages(batch) if m} <= stored

    @pytest.fixture(autouse=True)
    def _broker(self, broker: KafkaBroker) -> None:
        self.broker = broker


class TestKafkaEventSinkContract(EventSinkContract):
    @pytest.fixture
    async def contract_event_sink(self, make_sink):
        return await make_sink("timeout=2s", events=True, start=False)

    async def contains_events(self, sink, batch: EventBatch) -> bool:
        stored = set(await read_topic(self.broker.bootstrap, sink.config.topic))
        return {event_message(e) for e in batch.events} <= stored

    @pytest.fixture(autouse=True)
    def _broker(self, broker: KafkaBroker) -> None:
        self.broker = broker

