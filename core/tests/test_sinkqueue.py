"""Per-sink queues: retries lose nothing, overflow drops the oldest, permanent errors drop, close flushes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from heapster.model import DataBatch
from heapster.sinkqueue import SinkQueue
from heapster.testing import FakeClock, RecordingSink
from heapster.testing.contract import dropped_so_far


def batches(n: int) -> list[DataBatch]:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    return [DataBatch(base + timedelta(minutes=i)) for i in range(n)]


def queue_for(sink: RecordingSink, clock: FakeClock, capacity: int = 5) -> SinkQueue[DataBatch]:
    return SinkQueue(sink.name, sink.export, close=sink.close, capacity=capacity, clock=clock,
                     backoff_initial=1.0, backoff_max=8.0)


async def test_retryable_failures_are_retried_with_backoff_and_lose_nothing(fake_clock: FakeClock) -> None:
    sink = RecordingSink("retry-sink")
    sink.fail_retryable(3)
    queue = queue_for(sink, fake_clock)
    items = batches(3)
    for b in items:
        queue.put(b)
    await fake_clock.advance(0)
    assert sink.batches == [] and sink.attempts == 1
    # Backoff grows: the retries come after ~1 s, ~2 s, ~4 s (plus jitter), not at once.
    await fake_clock.advance(0.9)
    assert sink.attempts == 1
    await fake_clock.advance(30)
    await asyncio.wait_for(queue.drained(), 1)
    assert sink.batches == items
    assert queue.retries == 3 and queue.exported == 3


async def test_overflow_drops_the_oldest_waiting_batch_and_counts_it(fake_clock: FakeClock) -> None:
    sink = RecordingSink("overflow-sink")
    sink.block()
    queue = queue_for(sink, fake_clock, capacity=2)
    before = dropped_so_far("overflow-sink")
    items = batches(5)
    for b in items:
        queue.put(b)
        await fake_clock.advance(0)
    # items[0] is being exported; of the rest only the newest two are kept.
    assert queue.dropped_overflow == 2
    assert dropped_so_far("overflow-sink") == before + 2
    sink.unblock()
    await asyncio.wait_for(queue.drained(), 1)
    assert sink.batches == [items[0], items[3], items[4]]


async def test_permanent_failure_is_dropped_counted_and_not_retried(fake_clock: FakeClock) -> None:
    sink = RecordingSink("permanent-sink")
    sink.fail_permanent(1)
    queue = queue_for(sink, fake_clock)
    items = batches(2)
    for b in items:
        queue.put(b)
    await fake_clock.advance(0)
    await asyncio.wait_for(queue.drained(), 1)
    assert sink.batches == [items[1]]
    assert queue.dropped_permanent == 1 and queue.retries == 0


async def test_close_flushes_then_closes_the_sink() -> None:
    sink = RecordingSink("flush-sink")
    queue = SinkQueue(sink.name, sink.export, close=sink.close)
    items = batches(4)
    for b in items:
        queue.put(b)
    await queue.close(timeout=5)
    assert sink.batches == items and sink.closed


async def test_close_gives_up_after_the_deadline_and_counts_what_is_lost() -> None:
    sink = RecordingSink("stuck-sink")
    sink.block()
    queue = SinkQueue(sink.name, sink.export, close=sink.close)
    before = dropped_so_far("stuck-sink")
    for b in batches(3):
        queue.put(b)
    await asyncio.sleep(0)
    await queue.close(timeout=0.2)
    assert sink.batches == [] and sink.closed
    assert dropped_so_far("stuck-sink") == before + 3


async def test_export_timeout_counts_as_retryable(fake_clock: FakeClock) -> None:
    sink = RecordingSink("slow-sink")
    sink.block()
    queue = SinkQueue(sink.name, sink.export, export_timeout=0.05, clock=fake_clock, backoff_initial=1.0)
    queue.put(batches(1)[0])
    await asyncio.sleep(0.2)  # real time: the attempt times out
    assert queue.retries >= 1
    sink.unblock()
    await fake_clock.advance(10)
    await asyncio.wait_for(queue.drained(), 1)
    assert len(sink.batches) == 1


async def test_a_start_error_that_is_not_retryable_is_retried_slowly_not_fatal(fake_clock: FakeClock) -> None:
    sink = RecordingSink("bad-credentials")
    starts = {"n": 0}

    async def start() -> None:
        starts["n"] += 1
        if starts["n"] < 3:
            msg = "401 Unauthorized"
            raise PermissionError(msg) if starts["n"] == 1 else ValueError(msg)

    queue = SinkQueue(sink.name, sink.export, start=start, clock=fake_clock, backoff_initial=1.0, backoff_max=8.0)
    queue.put(batches(1)[0])
    await fake_clock.advance(0)
    assert sink.batches == []
    await fake_clock.advance(60)
    await asyncio.wait_for(queue.drained(), 1)
    assert starts["n"] == 3 and len(sink.batches) == 1
