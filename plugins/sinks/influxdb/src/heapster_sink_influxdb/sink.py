"""The InfluxDB metric and event sinks: build lines, write them in chunks, report the outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import structlog

from heapster import selfmetrics
from heapster.errors import PermanentError, RetryableError
from heapster.interfaces import EventSink, MetricSink
from heapster.model import DataBatch, EventBatch
from heapster.resume import SentParts, chunked
from heapster_sink_influxdb.admin import InfluxAdmin
from heapster_sink_influxdb.compatquery import CompatQuery
from heapster_sink_influxdb.config import EVENT_CHUNK_POINTS, InfluxConfig
from heapster_sink_influxdb.lineproto import MetricSchema, event_line
from heapster_sink_influxdb.writer import ChunkResult, LineWriter

log = structlog.get_logger(__name__)

SINK_NAME = "InfluxDB Sink"


class _InfluxWriterBase:
    """Chunked, concurrent, resumable export shared by the metric and the event sink.

    When an export fails with :class:`RetryableError`, the chunks already written are
    remembered for that batch object, so the sink queue's retry of the same batch sends only
    the rest (InfluxDB writes are idempotent anyway: same series and time overwrite).
    """

    name = SINK_NAME

    def __init__(self, config: InfluxConfig) -> None:
        self.config = config
        self.admin = InfluxAdmin(config)
        self.writer = LineWriter(config, self.admin, self.name)
        self._sent = SentParts()

    async def start(self) -> None:
        """Create the database and retention policy (RetryableError while the server is down).

        A permanent failure (bad credentials) is logged, not raised: every export then reports
        it as a :class:`PermanentError`, so the loss is counted batch by batch.
        """
        try:
            await self.writer.ensure_database()
        except PermanentError as exc:
            log.error("influxdb.sink.start.failed", sink=self.name, uri=self.config.masked_uri, error=str(exc))
            return
        log.info("influxdb.sink.started", sink=self.name, uri=self.config.masked_uri, db=self.config.db,
                 rp=self.config.rp, retention=self.config.retention)

    async def close(self) -> None:
        await self.writer.close()
        await asyncio.to_thread(self.admin.close)

    async def _export_lines(self, batch: object, lines: Iterable[str], chunk_size: int) -> None:
        done = self._sent.begin(batch)
        slots = asyncio.Semaphore(self.config.concurrency)
        total = ChunkResult()
        failed: list[str] = []
        tasks: list[asyncio.Task[None]] = []

        async def write(index: int, chunk: list[str], body: bytes) -> None:
            try:
                result = await self.writer.write(chunk, body)
            finally:
                slots.release()
            total.add(result)
            if result.retry_reason is not None:
                failed.append(result.retry_reason)
            else:
                done.add(index)

        try:
            for index, chunk in enumerate(chunked(lines, chunk_size)):
                if index in done:
                    continue
                body = await self.writer.compress(chunk)  # while the previous chunk is in flight
                await slots.acquire()
                if failed:  # the server is down: stop sending, the retry resumes from here
                    slots.release()
                    break
                tasks.append(asyncio.create_task(write(index, chunk, body)))
            await asyncio.gather(*tasks)
        except BaseException:  # cancelled (export timeout): leave no write running behind
            for task in tasks:
                task.cancel()
            raise

        if total.dropped:
            selfmetrics.sink_dropped_items.labels(sink=self.name).inc(total.dropped)
        if failed:
            raise RetryableError(f"{failed[0]} ({len(failed)} chunk(s) not written, kept for retry)")
        self._sent.finish()
        if total.rejected:
            raise PermanentError(total.rejected_reason or "InfluxDB refused the write", dropped=total.rejected)


class InfluxdbMetricSink(_InfluxWriterBase, MetricSink):
    """Writes metric batches in Heapster's schema; also answers the historical API."""

    def __init__(self, config: InfluxConfig) -> None:
        super().__init__(config)
        self._compat_query: CompatQuery | None = None
        self.schema = MetricSchema(
            with_fields=config.with_fields, cluster_name=config.cluster_name,
            disable_counter_metrics=config.disable_counter_metrics, pod_id_index=config.pod_id_index)

    async def export(self, batch: DataBatch) -> None:
        """Write every value of the batch, ``batch_size`` points per request."""
        await self._export_lines(batch, self.schema.lines(batch), self.config.batch_size)

    def historical_app(self) -> Any:
        """The ``/api/v1/historical`` routes, answered from this sink's database.

        InfluxDB 1.x is queried through ``/query`` with the sink's credentials; InfluxDB 2 and 3
        through their v1-compatible ``/query`` with the token, the bucket as database.
        """
        from heapster_sink_influxdb.historical import build_app, v1_runner

        if self.config.api == "v1":
            return build_app(self.config, v1_runner(self.admin))
        if self._compat_query is None:
            self._compat_query = CompatQuery(self.config)
        return build_app(self.config, self._compat_query.run)

    async def close(self) -> None:
        await super().close()
        if self._compat_query is not None:
            await self._compat_query.close()


class InfluxdbEventSink(_InfluxWriterBase, EventSink):
    """Writes Kubernetes events as Heapster's events sink did (``log/events`` or ``events``)."""

    async def export_events(self, batch: EventBatch) -> None:
        """Write the batch's events; nothing is sent for an empty batch."""
        if not batch.events:
            return
        c = self.config
        lines = (event_line(e, with_fields=c.with_fields, cluster_name=c.cluster_name, fallback=batch.timestamp)
                 for e in batch.events)
        await self._export_lines(batch, lines, min(c.batch_size, EVENT_CHUNK_POINTS))
