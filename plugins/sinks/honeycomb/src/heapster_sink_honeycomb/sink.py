"""The Honeycomb metric and event sinks: batch requests of at most 100 events, each answered per event."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import aiohttp
import structlog

from heapster import selfmetrics
from heapster.errors import PermanentError, RetryableError
from heapster.httpsession import LazySession
from heapster.interfaces import EventSink, MetricSink
from heapster.model import DataBatch, EventBatch
from heapster.resume import SentParts, chunked
from heapster_sink_honeycomb.config import HoneycombConfig
from heapster_sink_honeycomb.events import event_item, metric_items

log = structlog.get_logger(__name__)

SINK_NAME = "Honeycomb Sink"
MAX_BATCH = 100
"""Events per request, as Heapster sent them (larger requests risk Honeycomb's size limit)."""
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class _HoneycombSinkBase:
    """Posts items in requests of ``MAX_BATCH``; a retried batch resumes after the last accepted request."""

    name = SINK_NAME

    def __init__(self, config: HoneycombConfig) -> None:
        self.config = config
        self._session = LazySession(self._new_session)
        self._sent = SentParts()

    async def start(self) -> None:
        log.info("honeycomb.sink.started", sink=self.name, uri=self.config.masked_uri, url=self.config.batch_url)

    def _new_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.timeout))

    async def close(self) -> None:
        await self._session.close()

    async def _post(self, items: list[str]) -> tuple[int, str]:
        """Send one request; returns (events refused, first refusal reason). Raises RetryableError/PermanentError."""
        body = ("[" + ",".join(items) + "]").encode()
        headers = {"Content-Type": "application/json", "X-Honeycomb-Team": self.config.writekey}
        try:
            async with self._session.get().post(self.config.batch_url, data=body, headers=headers) as resp:
                text = await resp.text()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise RetryableError(f"Honeycomb at {self.config.batch_url} unreachable: {exc!r}") from None
        if status in RETRY_STATUSES:
            raise RetryableError(f"Honeycomb answered HTTP {status}: {_error(text)}")
        if status >= 300:
            raise PermanentError(f"Honeycomb refused {len(items)} events with HTTP {status}: {_error(text)}",
                                 dropped=len(items))
        try:
            results = json.loads(text)
        except ValueError:
            results = None
        if not isinstance(results, list):
            return 0, ""
        refused = [r for r in results if isinstance(r, dict) and int(r.get("status", 202)) >= 300]
        return len(refused), str(refused[0].get("error", "")) if refused else ""

    async def _send(self, batch: object, items: Iterable[str]) -> None:
        refused, reason = 0, ""
        for _, chunk in self._sent.pending(batch, chunked(items, MAX_BATCH)):
            try:
                count, why = await self._post(chunk)
            except PermanentError as exc:
                count, why = exc.dropped, str(exc)
            refused += count
            reason = reason or why
        if refused:
            raise PermanentError(f"Honeycomb refused {refused} events: {reason}", dropped=refused)


def _error(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return text[:200]
    return str(body.get("error", text[:200])) if isinstance(body, dict) else text[:200]


class HoneycombMetricSink(_HoneycombSinkBase, MetricSink):
    """One Honeycomb event per metric set, as Heapster's ``honeycomb`` metrics sink."""

    async def export(self, batch: DataBatch) -> None:
        skipped = 0

        def items() -> Any:
            nonlocal skipped
            for text, left_out in metric_items(batch):
                skipped += left_out
                yield text

        await self._send(batch, items())
        if skipped:
            selfmetrics.sink_dropped_items.labels(sink=self.name).inc(skipped)


class HoneycombEventSink(_HoneycombSinkBase, EventSink):
    """One Honeycomb event per Kubernetes event, as Heapster's ``honeycomb`` events sink."""

    async def export_events(self, batch: EventBatch) -> None:
        await self._send(batch, (event_item(e) for e in batch.events))
