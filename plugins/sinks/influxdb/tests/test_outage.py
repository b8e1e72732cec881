"""influxd crashes in the middle of a run and comes back: the core's SinkQueue and the sink lose no batch."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from heapster.sinkqueue import SinkQueue
from heapster.testing import synthetic_batch
from heapster.testing.net import async_wait_until
from heapster.timefmt import epoch_nanos

BATCHES = 12


def stored_at(server, db: str, ns: int) -> int:
    results = server.query(f"SELECT COUNT(*) FROM /.*/ WHERE time = {ns}", db)
    return sum(v for s in results[0].get("series", []) for v in s["values"][0][1:] if v)


async def test_a_crash_in_the_middle_of_a_run_loses_no_batch(make_sink, server, db_name) -> None:
    sink = await make_sink("batch_size=25", start=False)  # many requests per batch: the crash hits mid-export
    queue = SinkQueue(sink.name, sink.export, start=sink.start, close=sink.close,
                      backoff_initial=0.05, backoff_max=0.3)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    batches = [synthetic_batch(base + timedelta(minutes=i), nodes=2, pods=5, containers=2, seq=i)
               for i in range(BATCHES)]

    for i, batch in enumerate(batches):
        queue.put(batch)
        if i < 4:
            await async_wait_until(lambda n=i + 1: queue.exported == n, what=f"batch {i} exported")
        if i == 4:
            await async_wait_until(lambda: queue.depth == 0, what="batch 4 taken by the worker")
            await asyncio.to_thread(server.kill)  # while batch 4 is being written, or just after
        if i == 5:
            await async_wait_until(lambda: queue.retries > 0, what="the outage noticed")
        if i == 8:
            await asyncio.to_thread(server.start)  # batches 5 to 8 queued during the outage
    await asyncio.wait_for(queue.drained(), 60)

    assert (queue.exported, queue.dropped_overflow, queue.dropped_permanent) == (BATCHES, 0, 0)
    for batch in batches:
        expected = len(list(sink.schema.lines(batch)))
        assert stored_at(server, db_name, epoch_nanos(batch.timestamp)) == expected
    await queue.close()
