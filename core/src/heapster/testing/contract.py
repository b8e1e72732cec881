"""The contract every sink passes: success, retryable failure loses nothing, permanent failure is
dropped and counted, close flushes, a queue on disk is exported after a restart. Sinks run through the
core's real :class:`SinkQueue`.

Subclass :class:`SinkContract` in a test module (``class TestMySinkContract(SinkContract)``) and
provide the fixtures and method below; pytest then runs the five contract tests against your sink.

* fixture ``contract_sink``: a fresh sink connected to a working backend.
* fixture ``contract_outage``: an object with ``async stop()`` and ``async start()`` that take the
  backend down and bring it back (e.g. stop and restart the server process); :class:`ServerOutage`
  makes one of a test server with blocking ``stop()`` and ``start()``.
* fixture ``contract_bad_batch``: a batch the backend rejects permanently (e.g. a field type conflict).
* method ``async contains(sink, batch) -> bool``: whether ``batch`` can be read back from the backend.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from heapster import selfmetrics
from heapster.batchcodec import DATA_BATCH_CODEC
from heapster.interfaces import EventSink, MetricSink
from heapster.model import DataBatch, EventBatch
from heapster.queuestore import SqliteStore
from heapster.sinkqueue import SinkQueue
from heapster.testing.batches import synthetic_batch, synthetic_event
from heapster.testing.net import async_wait_until

BACKOFF_INITIAL, BACKOFF_MAX = 0.05, 0.5
"""Fast backoff so contract tests finish quickly."""


class ServerOutage:
    """A ``contract_outage`` of a test server whose blocking ``stop()`` and ``start()`` take it down and bring
    it back (same port, same data); they run in a thread, off the event loop the sink runs on."""

    def __init__(self, server: Any) -> None:
        self.server = server

    async def stop(self) -> None:
        await asyncio.to_thread(self.server.stop)

    async def start(self) -> None:
        await asyncio.to_thread(self.server.start)


def dropped_so_far(sink_name: str) -> float:
    """Batches plus items a sink has dropped so far, from the self-metrics."""
    total = 0.0
    for metric in selfmetrics.REGISTRY.collect():
        if metric.name not in ("heapster_sink_dropped_batches", "heapster_sink_dropped_items"):
            continue
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.labels.get("sink") == sink_name:
                total += sample.value
    return total


def _batches(count: int, offset: int = 0) -> list[DataBatch]:
    # Every window in the past (the newest, offset 42, 3 minutes ago): stores refuse points from the future
    # (Cloud Monitoring beyond 5 minutes) and points far older than the ones they hold (Prometheus).
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=45)
    return [synthetic_batch(base + timedelta(minutes=offset + i), nodes=1, pods=1, containers=1, seq=offset + i)
            for i in range(count)]


async def _wait(queue: SinkQueue[Any], timeout: float) -> None:
    await asyncio.wait_for(queue.drained(), timeout)


class SinkContract:
    """The metric sink contract; see the module docstring for what a subclass provides."""

    drain_timeout = 30.0

    async def contains(self, sink: MetricSink, batch: DataBatch) -> bool:
        """Whether ``batch`` is readable in the backend; subclasses implement this."""
        raise NotImplementedError

    def queue(self, sink: MetricSink) -> SinkQueue[DataBatch]:
        return SinkQueue(sink.name, sink.export, start=sink.start, close=sink.close,
                         backoff_initial=BACKOFF_INITIAL, backoff_max=BACKOFF_MAX)

    async def test_contract_success(self, contract_sink: MetricSink) -> None:
        queue = self.queue(contract_sink)
        (batch,) = _batches(1)
        queue.put(batch)
        await _wait(queue, self.drain_timeout)
        assert queue.exported == 1
        assert await self.contains(contract_sink, batch)
        await queue.close()

    async def test_contract_retryable_failure_loses_nothing(self, contract_sink: MetricSink,
                                                            contract_outage: Any) -> None:
        queue = self.queue(contract_sink)
        first, *during = _batches(3, offset=10)
        queue.put(first)
        await _wait(queue, self.drain_timeout)
        await contract_outage.stop()
        for batch in during:
            queue.put(batch)
        for _ in range(200):
            if queue.retries:
                break
            await asyncio.sleep(0.05)
        assert queue.retries >= 1, "the sink did not report the outage as retryable"
        await contract_outage.start()
        await _wait(queue, self.drain_timeout)
        assert queue.exported == 3 and queue.dropped_permanent == 0
        for batch in (first, *during):
            assert await self.contains(contract_sink, batch)
        await queue.close()

    async def test_contract_permanent_failure_is_dropped_and_counted(
            self, contract_sink: MetricSink, contract_bad_batch: DataBatch) -> None:
        queue = self.queue(contract_sink)
        before = dropped_so_far(contract_sink.name)
        (good,) = _batches(1, offset=20)
        queue.put(contract_bad_batch)
        queue.put(good)
        await _wait(queue, self.drain_timeout)
        assert dropped_so_far(contract_sink.name) > before
        assert queue.retries == 0, "a permanent failure must not be retried"
        assert await self.contains(contract_sink, good)
        await queue.close()

    async def test_contract_close_flushes(self, contract_sink: MetricSink) -> None:
        queue = self.queue(contract_sink)
        batches = _batches(3, offset=30)
        for batch in batches:
            queue.put(batch)
        await queue.close(timeout=self.drain_timeout)
        assert queue.exported == 3
        for batch in batches:
            assert await self.contains(contract_sink, batch)


    async def test_contract_queue_on_disk_survives_a_restart(self, contract_sink: MetricSink,
                                                             contract_outage: Any, tmp_path: Path) -> None:
        """Batches queued on disk during an outage are exported by the next process, decoded intact.

        Runs last, with the newest windows: backends such as Prometheus refuse samples older than
        ones they already have."""
        path = tmp_path / "contract-queue.sqlite"
        batches = _batches(3, offset=40)
        await contract_outage.stop()
        first = SinkQueue(contract_sink.name, contract_sink.export, start=contract_sink.start,
                          store=SqliteStore(path, DATA_BATCH_CODEC), backoff_initial=BACKOFF_INITIAL,
                          backoff_max=BACKOFF_MAX)
        for batch in batches:
            first.put(batch)
        await async_wait_until(lambda: first.retries >= 1, self.drain_timeout)
        await first.close(timeout=0)  # what a kill leaves: the batches stay in the file
        await contract_outage.start()
        second = SinkQueue(contract_sink.name, contract_sink.export, start=contract_sink.start,
                           close=contract_sink.close, store=SqliteStore(path, DATA_BATCH_CODEC),
                           backoff_initial=BACKOFF_INITIAL, backoff_max=BACKOFF_MAX)
        assert second.depth == 3
        second.start()
        await _wait(second, self.drain_timeout)
        assert second.exported == 3 and second.dropped_permanent == 0
        for batch in batches:
            assert await self.contains(contract_sink, batch)
        await second.close()

class EventSinkContract:
    """The same contract for event sinks: ``contract_event_sink``, ``contract_outage`` and
    ``async contains_events(sink, batch) -> bool``."""

    drain_timeout = 30.0

    async def contains_events(self, sink: EventSink, batch: EventBatch) -> bool:
        raise NotImplementedError

    def event_queue(self, sink: EventSink) -> SinkQueue[EventBatch]:
        return SinkQueue(sink.name, sink.export_events, start=sink.start, close=sink.close,
                         backoff_initial=BACKOFF_INITIAL, backoff_max=BACKOFF_MAX)

    @staticmethod
    def event_batches(count: int, offset: int = 0) -> list[EventBatch]:
        base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
        return [EventBatch(base + timedelta(minutes=offset + i),
                           [synthetic_event(base + timedelta(minutes=offset + i), n=(offset + i) * 10 + k)
                            for k in range(3)])
                for i in range(count)]

    async def test_event_contract_success(self, contract_event_sink: EventSink) -> None:
        queue = self.event_queue(contract_event_sink)
        (batch,) = self.event_batches(1)
        queue.put(batch)
        await _wait(queue, self.drain_timeout)
        assert await self.contains_events(contract_event_sink, batch)
        await queue.close()

    async def test_event_contract_retryable_failure_loses_nothing(self, contract_event_sink: EventSink,
                                                                  contract_outage: Any) -> None:
        queue = self.event_queue(contract_event_sink)
        await contract_outage.stop()
        batches = self.event_batches(2, offset=10)
        for batch in batches:
            queue.put(batch)
        for _ in range(200):
            if queue.retries:
                break
            await asyncio.sleep(0.05)
        assert queue.retries >= 1
        await contract_outage.start()
        await _wait(queue, self.drain_timeout)
        for batch in batches:
            assert await self.contains_events(contract_event_sink, batch)
        await queue.close()

    async def test_event_contract_close_flushes(self, contract_event_sink: EventSink) -> None:
        queue = self.event_queue(contract_event_sink)
        batches = self.event_batches(2, offset=20)
        for batch in batches:
            queue.put(batch)
        await queue.close(timeout=self.drain_timeout)
        for batch in batches:
            assert await self.contains_events(contract_event_sink, batch)
