"""Per-sink queues: retries lose nothing, overflow drops the oldest, permanent errors drop, close flushes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from heapster.batchcodec import DATA_BATCH_CODEC
from heapster.model import DataBatch
from heapster.queuestore import QueueLockedError, SqliteStore
from heapster.sinkqueue import SinkQueue
from heapster.testing import FakeClock, RecordingSink, synthetic_batch
from heapster.testing.contract import dropped_so_far
from heapster.testing.net import async_wait_until


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
    await asyncio.sleep(0)  # one turn of the loop for the queue's task (a yield, not a wait: asserted either way)
    await queue.close(timeout=0.2)
    assert sink.batches == [] and sink.closed
    assert dropped_so_far("stuck-sink") == before + 3


async def test_export_timeout_counts_as_retryable(fake_clock: FakeClock) -> None:
    sink = RecordingSink("slow-sink")
    sink.block()
    queue = SinkQueue(sink.name, sink.export, export_timeout=0.05, clock=fake_clock, backoff_initial=1.0)
    queue.put(batches(1)[0])
    await async_wait_until(lambda: queue.retries >= 1, timeout=10, what="the attempt timing out (real time)")
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


# --- issue 12.10: the shutdown flush, the backlog, and what is logged --------------------------------

def window_of(batch: DataBatch) -> dict[str, str]:
    return {"window": batch.timestamp.isoformat()}


async def _in_long_backoff(sink: RecordingSink, queue: SinkQueue[DataBatch], clock: FakeClock) -> None:
    """Let the sink fail until the worker waits out a backoff of the maximum length."""
    sink.fail_retryable(10**6)
    for _ in range(12):
        await clock.advance(queue.backoff_max)
    assert clock.sleepers >= 1 and sink.batches == []


async def test_a_flush_after_the_sink_returns_delivers_the_whole_queue(fake_clock: FakeClock) -> None:
    sink = RecordingSink("flush-after-outage")
    queue = SinkQueue(sink.name, sink.export, close=sink.close, clock=fake_clock, backoff_initial=1.0,
                      backoff_max=60.0)
    items = batches(5)
    for b in items:
        queue.put(b)
    await _in_long_backoff(sink, queue, fake_clock)
    sink.retryable_failures = 0  # the sink is back; nobody advances the clock any more
    before = dropped_so_far(sink.name)
    await queue.close(timeout=2)  # real seconds: the worker must not sleep out its backoff
    assert sink.batches == items
    assert dropped_so_far(sink.name) == before


async def test_a_backlog_drains_without_a_backoff_between_batches(fake_clock: FakeClock) -> None:
    sink = RecordingSink("backlog")
    queue = SinkQueue(sink.name, sink.export, clock=fake_clock, backoff_initial=1.0, backoff_max=60.0)
    items = batches(6)
    for b in items[:5]:
        queue.put(b)
    await _in_long_backoff(sink, queue, fake_clock)
    sink.retryable_failures = 0
    with capture_logs() as logs:
        queue.put(items[5])  # the next window: the worker retries now, not at the end of its backoff
        await fake_clock.advance(0)
        await asyncio.wait_for(queue.drained(), 1)
    assert sink.batches == items
    recovered = [e for e in logs if e["event"] == "sink.recovered"]
    assert len(recovered) == 1 and recovered[0]["sink"] == "backlog" and recovered[0]["down_for"] > 0


async def test_batches_dropped_at_shutdown_are_logged_with_their_number() -> None:
    sink = RecordingSink("shutdown-log")
    sink.block()
    queue = SinkQueue(sink.name, sink.export, close=sink.close, describe=window_of)
    for b in batches(3):
        queue.put(b)
    await asyncio.sleep(0)  # one turn of the loop for the queue's task (a yield, not a wait: asserted either way)
    with capture_logs() as logs:
        await queue.close(timeout=0.1)
    (line,) = [e for e in logs if e["event"] == "sink.flush.incomplete"]
    assert line["dropped"] == 3 and line["reason"] == "shutdown"
    assert line["oldest"] == batches(1)[0].timestamp.isoformat()


async def test_a_retry_after_a_timeout_logs_what_happened(fake_clock: FakeClock) -> None:
    sink = RecordingSink("timeout-log")
    sink.block()
    queue = SinkQueue(sink.name, sink.export, export_timeout=0.05, clock=fake_clock, describe=window_of)
    with capture_logs() as logs:
        queue.put(batches(1)[0])
        await async_wait_until(lambda: queue.retries, timeout=10, what="the attempt timing out (real time)")
    (line,) = [e for e in logs if e["event"] == "sink.export.retry"]
    assert line["error"] == "no answer within 0.05s"
    assert line["window"] == batches(1)[0].timestamp.isoformat()
    sink.unblock()
    await queue.close(timeout=1)


async def test_an_overflow_names_the_window_it_dropped(fake_clock: FakeClock) -> None:
    sink = RecordingSink("overflow-log")
    sink.block()
    queue = SinkQueue(sink.name, sink.export, capacity=1, clock=fake_clock, describe=window_of)
    items = batches(3)
    with capture_logs() as logs:
        for b in items:
            queue.put(b)
            await fake_clock.advance(0)
    (line,) = [e for e in logs if e["event"] == "sink.queue.overflow"]
    assert line["dropped_window"] == items[1].timestamp.isoformat()  # items[0] is being exported
    sink.unblock()
    await queue.close(timeout=1)


# --- the queue on disk -----------------------------------------------------------------------------

def disk_queue(path: Path, sink: RecordingSink, clock: FakeClock, **bounds: Any) -> SinkQueue[DataBatch]:
    return SinkQueue(sink.name, sink.export, close=sink.close, clock=clock, backoff_initial=1.0, backoff_max=8.0,
                     store=SqliteStore(path, DATA_BATCH_CODEC), describe=window_of, **bounds)


def real_batches(n: int) -> list[DataBatch]:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    return [synthetic_batch(base + timedelta(seconds=10 * i), nodes=2, pods=2, containers=2, seq=i)
            for i in range(n)]


def same(a: list[DataBatch], b: list[DataBatch]) -> bool:
    return [DATA_BATCH_CODEC.encode(x) for x in a] == [DATA_BATCH_CODEC.encode(x) for x in b]


async def test_a_restart_replays_the_queue_on_disk_in_order(tmp_path: Path, fake_clock: FakeClock) -> None:
    path = tmp_path / "queue.sqlite"
    down = RecordingSink("disk-sink")
    down.fail_retryable(10**6)
    first = disk_queue(path, down, fake_clock)
    items = real_batches(6)
    for b in items[:4]:
        first.put(b)
    await fake_clock.advance(0)
    before = dropped_so_far("disk-sink")
    with capture_logs() as logs:
        await first.close(timeout=0.1)  # the sink is still down: nothing is dropped, all is kept
    assert dropped_so_far("disk-sink") == before
    assert [e["kept"] for e in logs if e["event"] == "sink.flush.incomplete"] == [4]
    back = RecordingSink("disk-sink")
    second = disk_queue(path, back, fake_clock)
    assert second.depth == 4
    second.start()
    for b in items[4:]:
        second.put(b)
    await fake_clock.advance(0)
    await asyncio.wait_for(second.drained(), 5)
    assert same(back.batches, items)
    await second.close()
    third = disk_queue(path, RecordingSink("disk-sink"), fake_clock)
    assert third.depth == 0  # exported batches are gone from the disk
    await third.close()


async def test_a_batch_being_exported_stays_on_disk_until_the_sink_has_it(tmp_path: Path,
                                                                          fake_clock: FakeClock) -> None:
    path = tmp_path / "queue.sqlite"
    sink = RecordingSink("inflight")
    sink.block()
    queue = disk_queue(path, sink, fake_clock)
    (item,) = real_batches(1)
    queue.put(item)
    await fake_clock.advance(0)
    assert sink.attempts == 1 and queue.depth == 0
    await queue.close(timeout=0.05)  # as if the process died mid-export
    again = RecordingSink("inflight")
    replay = disk_queue(path, again, fake_clock)
    replay.start()
    await asyncio.wait_for(replay.drained(), 5)
    assert same(again.batches, [item])
    await replay.close()


async def test_the_disk_queue_drops_the_oldest_by_count_and_counts_it(tmp_path: Path,
                                                                      fake_clock: FakeClock) -> None:
    sink = RecordingSink("disk-count")
    sink.block()
    queue = disk_queue(tmp_path / "q.sqlite", sink, fake_clock, capacity=2)
    before = dropped_so_far("disk-count")
    items = real_batches(5)
    for b in items:
        queue.put(b)
        await fake_clock.advance(0)
    assert queue.dropped_overflow == 2 and dropped_so_far("disk-count") == before + 2
    sink.unblock()
    await asyncio.wait_for(queue.drained(), 5)
    assert same(sink.batches, [items[0], items[3], items[4]])
    await queue.close()


async def test_the_disk_queue_drops_the_oldest_by_bytes_and_counts_it(tmp_path: Path,
                                                                      fake_clock: FakeClock) -> None:
    items = real_batches(8)
    size = max(len(DATA_BATCH_CODEC.encode(b)) for b in items)
    sink = RecordingSink("disk-bytes")
    sink.block()
    queue = disk_queue(tmp_path / "q.sqlite", sink, fake_clock, capacity=100, max_bytes=int(size * 3.5))
    before = dropped_so_far("disk-bytes")
    with capture_logs() as logs:
        for b in items:
            queue.put(b)
            await fake_clock.advance(0)
    # items[0] is being exported and stays; of the rest only what fits in 3.5 batches' bytes is kept
    assert queue.dropped_overflow == 5 and dropped_so_far("disk-bytes") == before + 5
    dropped = [e["dropped_window"] for e in logs if e["event"] == "sink.queue.overflow"]
    assert dropped == [b.timestamp.isoformat() for b in items[1:6]]
    sink.unblock()
    await asyncio.wait_for(queue.drained(), 5)
    assert same(sink.batches, [items[0], items[6], items[7]])
    await queue.close()


async def test_the_disk_queue_drops_batches_older_than_max_age(tmp_path: Path, fake_clock: FakeClock) -> None:
    sink = RecordingSink("disk-age")
    sink.fail_retryable(10**6)
    queue = disk_queue(tmp_path / "q.sqlite", sink, fake_clock, max_age=100.0)
    before = dropped_so_far("disk-age")
    items = real_batches(4)
    for b in items[:3]:
        queue.put(b)
    await fake_clock.advance(0)
    await fake_clock.advance(60)
    queue.put(items[3])
    await fake_clock.advance(50)  # items 0..2 are 110 s old now, items[3] 50 s
    sink.retryable_failures = 0
    await fake_clock.advance(10)
    await asyncio.wait_for(queue.drained(), 5)
    assert same(sink.batches, [items[3]])
    assert queue.dropped_expired == 3 and dropped_so_far("disk-age") == before + 3
    await queue.close()


async def test_a_second_process_cannot_open_a_queue_in_use(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    held = SqliteStore(path, DATA_BATCH_CODEC)
    try:
        with pytest.raises(QueueLockedError, match="in use"):
            SqliteStore(path, DATA_BATCH_CODEC)
    finally:
        held.close()
    SqliteStore(path, DATA_BATCH_CODEC).close()  # free again once closed


async def test_close_ends_the_worker_even_when_the_sink_fails_at_once() -> None:
    # The cancel used to be lost when it arrived as the export failed (asyncio.wait_for in 3.11),
    # and the worker went on retrying after close() had given up.
    sink = RecordingSink("fails-fast")
    sink.fail_retryable(10**6)
    queue = SinkQueue(sink.name, sink.export, close=sink.close, backoff_initial=0.001, backoff_max=0.002)
    for b in batches(2):
        queue.put(b)
    await async_wait_until(lambda: sink.attempts >= 3, timeout=5, interval=0.001, what="three failed attempts")
    await asyncio.wait_for(queue.close(timeout=0.1), 2)
    # close() returns once the worker task has ended: no attempt can follow it.
    assert queue._task is not None and queue._task.done()
    assert sink.closed


async def test_suspend_cancels_the_export_in_flight_forgets_the_rest_and_does_not_reconnect() -> None:
    started: list[int] = []
    written: list[DataBatch] = []
    gate = asyncio.Event()

    async def connect() -> None:
        started.append(1)

    in_flight: list[DataBatch] = []

    async def export(batch: DataBatch) -> None:
        in_flight.append(batch)
        await gate.wait()
        written.append(batch)

    acked: list[DataBatch] = []
    queue: SinkQueue[DataBatch] = SinkQueue("s", export, start=connect, on_exported=acked.append)
    first, second, third = batches(3)
    queue.put(first)
    queue.put(second)
    await async_wait_until(lambda: in_flight == [first], timeout=5, what="the first batch in flight")
    assert await queue.suspend() == 2
    gate.set()  # the cancelled export must not go on to write (checked below: only the third is written)
    assert written == [] and acked == [] and queue.depth == 0
    queue.put(third)  # exporting again (leadership regained): the worker restarts, the sink is not reconnected
    await asyncio.wait_for(queue.drained(), 2)
    assert written == [third] and acked == [third] and started == [1]
    await queue.close(1)
