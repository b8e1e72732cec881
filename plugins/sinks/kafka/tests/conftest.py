"""Shared fixtures: one real Kafka-compatible broker (Tansu) for the session, sinks on fresh topics."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
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


SinkFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
async def make_sink(broker: KafkaBroker, topic: str) -> AsyncIterator[SinkFactory]:
    """Build (through the plugin registry) and start sinks: ``await make_sink("compression=gzip")``."""
    plugins = load_plugins()
    built: list[Any] = []

    async def factory(options: str = "", *, events: bool = False, start: bool = True) -> Any:
        topic_option = "eventstopic" if events else "timeseriestopic"
        query = f"brokers={broker.bootstrap}&{topic_option}={topic}" + (f"&{options}" if options else "")
        spec = f"kafka:?{query}"
        context = PluginContext()
        sink = plugins.build_event_sink(spec, context) if events else plugins.build_metric_sink(spec, context)
        built.append(sink)
        if start:
            await sink.start()
        return sink

    yield factory
    for sink in built:
        await sink.close()
