"""Shared fixtures: one real Kafka-compatible broker (Tansu) for the session, sinks on fresh topics."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Iterator
from typing import Any

import pytest

from heapster.testing.sinks import SinkBuilder, SinkFactory, with_options
from heapster_sink_kafka.testing import KafkaBroker, kafka_broker


@pytest.fixture(scope="session")
def session_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    with kafka_broker(tmp_path_factory.mktemp("kafka")) as broker:
        yield broker


@pytest.fixture
def broker(session_broker: KafkaBroker) -> KafkaBroker:
    """The session's broker, resumed if an earlier test left it paused."""
    if session_broker.paused:
        session_broker.resume()
    return session_broker


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
