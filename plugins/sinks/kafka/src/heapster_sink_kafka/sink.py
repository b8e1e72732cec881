"""The Kafka metric and event sinks: one aiokafka producer each, every message acknowledged by the leader.

A failed send is retried by the core's sink queue; messages of the batch that the brokers already
acknowledged are remembered and not sent again (Kafka keeps every copy, unlike InfluxDB).
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
from collections.abc import Iterable, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from heapster import selfmetrics
from heapster.errors import PermanentError, RetryableError
from heapster.interfaces import EventSink, MetricSink
from heapster.model import DataBatch, EventBatch
from heapster.resume import SentParts
from heapster_sink_kafka.config import KafkaConfig
from heapster_sink_kafka.messages import event_message, metric_messages

log = structlog.get_logger(__name__)

CLIENT_ID = "kafka-sink"
"""Heapster's client id."""
YIELD_EVERY = 1000
"""Messages queued between two yields to the event loop (aiokafka's send rarely suspends)."""


class RoundRobinPartitioner:
    """Heapster's partitioner (sarama ``NewRoundRobinPartitioner``): messages have no key."""

    def __init__(self) -> None:
        self._next = itertools.count()

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        partitions = list(available) or list(all_partitions)
        return partitions[next(self._next) % len(partitions)]


def is_transient(exc: BaseException) -> bool:
    """Whether a Kafka failure may go away: broker down or slow, leader moving."""
    if isinstance(exc, KafkaTimeoutError | KafkaConnectionError | OSError | asyncio.TimeoutError):
        return True
    return bool(getattr(exc, "retriable", False))


def ssl_context(config: KafkaConfig) -> ssl.SSLContext | None:
    """The TLS settings Heapster built from ``cacert``, ``cert``/``key`` and ``insecuressl``."""
    if not config.tls:
        return None
    context = ssl.create_default_context(cafile=config.cacert or None)
    if config.cert:
        context.load_cert_chain(config.cert, config.key)
    if config.insecure_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _KafkaProducerSink:
    """Produces messages to one topic; shared by the metric and the event sink."""

    name = "kafka"

    def __init__(self, config: KafkaConfig) -> None:
        self.config = config
        self.producer: AIOKafkaProducer | None = None
        self._sent = SentParts()
        self._inflight: dict[int, asyncio.Future[Any]] = {}
        """Messages of the batch in progress the producer still holds, by number."""

    def _producer(self) -> AIOKafkaProducer:
        c = self.config
        timeout_ms = int(c.timeout * 1000)
        options: dict[str, Any] = {
            "bootstrap_servers": list(c.brokers), "client_id": CLIENT_ID, "acks": 1,
            "compression_type": None if c.compression == "none" else c.compression,
            "partitioner": RoundRobinPartitioner(), "request_timeout_ms": timeout_ms,
            "security_protocol": c.security_protocol, "ssl_context": ssl_context(c),
        }
        if c.sasl:
            options.update(sasl_mechanism="PLAIN", sasl_plain_username=c.user, sasl_plain_password=c.password)
        return AIOKafkaProducer(**options)

    async def start(self) -> None:
        """Connect to the brokers (RetryableError while none answers)."""
        if self.producer is not None:
            return
        producer = self._producer()
        try:
            await asyncio.wait_for(producer.start(), self.config.timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            await producer.stop()
            message = f"cannot connect to Kafka brokers {', '.join(self.config.brokers)}: {exc!r}"
            raise (RetryableError if is_transient(exc) else PermanentError)(message) from None
        self.producer = producer
        log.info("kafka.sink.started", sink=self.name, uri=self.config.masked_uri, topic=self.config.topic,
                 compression=self.config.compression, security=self.config.security_protocol)

    async def close(self) -> None:
        """Send what the producer still holds, then disconnect."""
        if self.producer is not None:
            producer, self.producer = self.producer, None
            await producer.stop()

    async def _produce(self, batch: object, messages: Iterable[bytes | None]) -> None:
        """Send the messages not yet acknowledged for ``batch``; raise what the outcome calls for.

        Messages still in flight when ``timeout`` runs out stay with the producer; a retry of the same
        batch waits for them again instead of sending them a second time.
        """
        if self.producer is None:
            await self.start()
        producer = self.producer
        assert producer is not None
        if not self._sent.continues(batch):
            self._inflight = {}
        delivered, inflight = self._sent.begin(batch), self._inflight
        unencodable = rejected = 0
        transient: BaseException | None = None
        rejection: BaseException | None = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.timeout
        for index, value in enumerate(messages):
            if index % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let scraping and the API run between slices of a large batch
            if index in delivered or index in inflight:
                continue
            if value is None:
                unencodable += 1
                delivered.add(index)
                continue
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise KafkaTimeoutError(f"batch not queued within {self.config.timeout:g}s")
                inflight[index] = await asyncio.wait_for(producer.send(self.config.topic, value), remaining)
            except TimeoutError:
                transient = TimeoutError(f"brokers unavailable for {self.config.timeout:g}s (no metadata or no room)")
                break
            except KafkaError as exc:
                if is_transient(exc):
                    transient = exc
                    break
                rejected += 1
                rejection = exc
                delivered.add(index)
        if inflight:
            await asyncio.wait(list(inflight.values()), timeout=max(0.0, deadline - loop.time()))
        for index, future in list(inflight.items()):
            if not future.done():
                transient = transient or TimeoutError(f"no acknowledgement within {self.config.timeout:g}s")
                continue
            del inflight[index]
            outcome = None if future.cancelled() else future.exception()
            if future.cancelled() or (outcome is not None and is_transient(outcome)):
                transient = transient or outcome or TimeoutError("send cancelled")
            elif outcome is not None:
                rejected += 1
                rejection = outcome
                delivered.add(index)
            else:
                delivered.add(index)
        if unencodable:
            selfmetrics.sink_dropped_items.labels(sink=self.name).inc(unencodable)
            log.warning("kafka.sink.unencodable", sink=self.name, dropped=unencodable, reason="NaN or infinite value")
        if transient is not None:
            raise RetryableError(f"Kafka did not acknowledge every message to {self.config.topic!r}: {transient!r}")
        self._sent.finish()
        self._inflight = {}
        if rejected:
            raise PermanentError(f"Kafka refused {rejected} message(s) to {self.config.topic!r}: {rejection!r}",
                                 dropped=rejected)


class KafkaMetricSink(_KafkaProducerSink, MetricSink):
    """One message per metric value, as Heapster's ``kafka`` metrics sink."""

    name = "kafka"

    async def export(self, batch: DataBatch) -> None:
        await self._produce(batch, metric_messages(batch))


class KafkaEventSink(_KafkaProducerSink, EventSink):
    """One message per event, as Heapster's ``kafka`` events sink."""

    name = "Apache Kafka Sink"

    async def export_events(self, batch: EventBatch) -> None:
        await self._produce(batch, (event_message(e) for e in batch.events))
