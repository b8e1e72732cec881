"""The Riemann metric and event sinks: ``batchsize`` events per message, each message acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import structlog
from google.protobuf.message import DecodeError

from heapster import selfmetrics
from heapster.errors import PermanentError, RetryableError
from heapster.interfaces import EventSink, MetricSink
from heapster.model import DataBatch, EventBatch
from heapster.resume import SentParts, chunked
from heapster_sink_riemann.client import RiemannConnection
from heapster_sink_riemann.config import RiemannConfig
from heapster_sink_riemann.events import kubernetes_event, metric_events
from heapster_sink_riemann.proto import Msg

log = structlog.get_logger(__name__)

SINK_NAME = "Riemann Sink"


class _RiemannSinkBase:
    """Sends events in acknowledged messages; a retried batch resumes after its last acknowledged message."""

    name = SINK_NAME

    def __init__(self, config: RiemannConfig) -> None:
        self.config = config
        self.connection = RiemannConnection(config.host, config.port, config.timeout)
        self._sent = SentParts()

    @property
    def address(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    async def start(self) -> None:
        """Connect (RetryableError while Riemann is unreachable)."""
        try:
            await self.connection.connect()
        except (OSError, TimeoutError) as exc:
            raise RetryableError(f"cannot connect to Riemann at {self.address}: {exc!r}") from None
        log.info("riemann.sink.started", sink=self.name, uri=self.config.masked_uri, address=self.address)

    async def close(self) -> None:
        await self.connection.close()

    async def _send(self, batch: object, events: Iterable[Any]) -> None:
        unencodable = rejected = 0
        reason = ""
        encodable: list[Any] = []
        for event in events:
            if event is None:
                unencodable += 1
            else:
                encodable.append(event)
        for _, chunk in self._sent.pending(batch, chunked(encodable, self.config.batch_size)):
            message = Msg()
            message.events.extend(chunk)
            try:
                reply = await self.connection.send(message)
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                raise RetryableError(f"Riemann at {self.address} did not acknowledge "
                                     f"{len(chunk)} events: {exc!r}") from None
            except DecodeError as exc:
                raise RetryableError(f"Riemann at {self.address} sent an unreadable reply: {exc}") from None
            if not reply.ok:
                rejected += len(chunk)
                reason = reply.error or "no reason given"
        if unencodable:
            selfmetrics.sink_dropped_items.labels(sink=self.name).inc(unencodable)
            log.warning("riemann.sink.unencodable", sink=self.name, dropped=unencodable,
                        reason="a string that is not valid Unicode")
        if rejected:
            raise PermanentError(f"Riemann at {self.address} refused {rejected} events: {reason}", dropped=rejected)


class RiemannMetricSink(_RiemannSinkBase, MetricSink):
    """One Riemann event per metric value, as Heapster's ``riemann`` metrics sink."""

    async def export(self, batch: DataBatch) -> None:
        await self._send(batch, metric_events(batch, self.config))


class RiemannEventSink(_RiemannSinkBase, EventSink):
    """One Riemann event per Kubernetes event, as Heapster's ``riemann`` events sink."""

    async def export_events(self, batch: EventBatch) -> None:
        time = int(batch.timestamp.timestamp())
        await self._send(batch, (kubernetes_event(e, time, self.config) for e in batch.events))
