"""Shared fixtures: one real Kafka-compatible broker (Tansu) for the session, sinks on fresh topics."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Any

import pytest

from heapster.testing.servers import shared_server
from heapster.testing.sinks import SinkBuilder, SinkFactory, with_options
from heapster_sink_kafka.testing import KafkaBroker, kafka_broker


def _resumed(broker: KafkaBroker) -> KafkaBroker:
    """The broker answering again if an earlier test left it paused."""
    if broker.paused:
        broker.resume()
    return broker


session_broker, broker = shared_server(lambda tmp: kafka_broker(tmp.mktemp("kafka")), session="session_broker",
                                       each="broker", ready=_resumed)


@pytest.fixture
def topic() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_sink(build_sink: SinkBuilder, broker: KafkaBroker, topic: str) -> SinkFactory:
    """Build (through the plugin registry) and start sinks: ``await make_sink("compression=gzip")``."""

    def factory(options: str = "", *, events: bool = False, start: bool = True) -> Awaitable[Any]:
        topic_option = "eventstopic" if events else "timeseriestopic"
        spec = f"kafka:?brokers={broker.bootstrap}&{topic_option}={topic}"
        return build_sink(with_options(spec, options), events=events, start=start)

    return factory
