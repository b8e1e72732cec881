"""--leader-elect's gate before the sinks: only the leader exports; a new leader replays what the last one had not."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from heapster.handover import ACKED_ANNOTATION, LeaderExport
from heapster.interfaces import LeaderElector
from heapster.model import DataBatch
from heapster.sinkqueue import SinkQueue
from heapster.testing.net import PATIENCE, async_wait_until

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def window(n: int) -> DataBatch:
    return DataBatch(T0 + timedelta(seconds=10 * n))


class Elector:
    """A Lease held when the test says so; annotations as a real Lease would carry them."""

    def __init__(self, annotations: Mapping[str, str] | None = None) -> None:
        self.identity = "me"
        self.holder: str | None = None
        self.last_attempt: float | None = None
        self._annotations = dict(annotations or {})
        self.granted = asyncio.Event()
        self.lost = asyncio.Event()
        self.released = False
        self._leading = False

    @property
    def leading(self) -> bool:
        return self._leading

    @property
    def annotations(self) -> Mapping[str, str]:
        return self._annotations

    def annotate(self, values: Mapping[str, str]) -> None:
        self._annotations.update(values)

    async def acquire(self) -> None:
        await self.granted.wait()
        self.granted.clear()
        self._leading = True

    async def hold(self) -> None:
        await self.lost.wait()
        self.lost.clear()
        self._leading = False

    async def release(self) -> None:
        self.released = True
        self._leading = False


def record(**acked: int) -> dict[str, str]:
    return {ACKED_ANNOTATION: json.dumps({k: window(n).timestamp.isoformat() for k, n in acked.items()})}


async def setup(elector: Elector, keep: int = 5) -> tuple[LeaderExport, list[int], SinkQueue[DataBatch]]:
    assert isinstance(elector, LeaderElector)
    gate = LeaderExport(elector, resolution=10, store_duration=10 * keep)
    written: list[int] = []

    async def export(batch: DataBatch) -> None:
        written.append(int((batch.timestamp - T0).total_seconds()) // 10)

    queue: SinkQueue[DataBatch] = SinkQueue("sink", export, on_exported=gate.acknowledger("sink"))
    gate.add("sink", queue)
    return gate, written, queue


async def test_a_standby_exports_nothing_and_a_new_leader_replays_after_the_recorded_window() -> None:
    elector = Elector(record(sink=2))
    gate, written, queue = await setup(elector)
    stop = asyncio.Event()
    running = asyncio.create_task(gate.run(stop))
    for n in range(1, 5):  # windows 1..4 while standing by
        gate.put(window(n))
    assert written == [] and len(queue._store) == 0  # and none later: the exact list below would show it
    elector.granted.set()
    await async_wait_until(lambda: written == [3, 4], PATIENCE)
    gate.put(window(5))
    await async_wait_until(lambda: written == [3, 4, 5], PATIENCE)
    assert json.loads(elector.annotations[ACKED_ANNOTATION]) == {"sink": window(5).timestamp.isoformat()}
    assert gate.replayed == 2
    stop.set()
    await running
    await queue.close(1)
    await gate.close()
    assert elector.released


async def test_losing_the_lease_stops_exports_and_regaining_it_exports_only_what_was_not() -> None:
    elector = Elector()
    gate, written, queue = await setup(elector)
    stop = asyncio.Event()
    running = asyncio.create_task(gate.run(stop))
    elector.granted.set()
    await async_wait_until(lambda: gate.live, PATIENCE)
    gate.put(window(1))
    await async_wait_until(lambda: written == [1], PATIENCE)
    elector.lost.set()
    await async_wait_until(lambda: not gate.live, PATIENCE)
    gate.put(window(2))
    gate.put(window(3))
    assert written == [1]  # nor later while standing by: the exact list below would show it
    # Another leader exported window 2 meanwhile and recorded it.
    elector.annotate(record(sink=2))
    elector.granted.set()
    await async_wait_until(lambda: written == [1, 3], PATIENCE)
    stop.set()
    await running
    await queue.close(1)
    await gate.close()


async def test_windows_gone_from_memory_are_counted_missing() -> None:
    elector = Elector(record(sink=1))
    gate, written, queue = await setup(elector, keep=2)
    stop = asyncio.Event()
    running = asyncio.create_task(gate.run(stop))
    for n in range(2, 6):  # only 4 and 5 are still held
        gate.put(window(n))
    elector.granted.set()
    await async_wait_until(lambda: written == [4, 5], PATIENCE)
    assert gate.missing == 2
    stop.set()
    await running
    await queue.close(1)
    await gate.close()


async def test_a_standby_keeps_only_the_windows_the_leader_has_not_acknowledged() -> None:
    elector = Elector(record(sink=3))
    gate, _, _ = await setup(elector, keep=90)
    for n in range(1, 6):
        gate.put(window(n))
    assert [b.timestamp for b in gate.recent] == [window(4).timestamp, window(5).timestamp]
    elector.annotate(record(sink=5))
    gate.put(window(6))
    assert [b.timestamp for b in gate.recent] == [window(6).timestamp]


async def test_windows_a_queue_on_disk_kept_are_exported_once_with_the_ring() -> None:
    """A restarted replica's durable queue holds windows 1..3; the record says 2 was the last exported; its
    ring holds 3 and 4: the sink gets 3 (from disk) and 4 (from memory), nothing twice."""
    from heapster.queuestore import MemoryStore

    elector = Elector(record(sink=2))
    gate = LeaderExport(elector, resolution=10, store_duration=900)
    kept: MemoryStore[DataBatch] = MemoryStore()
    for n in (1, 2, 3):
        kept.append(window(n), window(n).timestamp.isoformat(), 0.0)
    written: list[int] = []

    async def export(batch: DataBatch) -> None:
        written.append(int((batch.timestamp - T0).total_seconds()) // 10)

    queue: SinkQueue[DataBatch] = SinkQueue("sink", export, store=kept, on_exported=gate.acknowledger("sink"))
    gate.add("sink", queue)
    stop = asyncio.Event()
    running = asyncio.create_task(gate.run(stop))
    gate.put(window(3))
    gate.put(window(4))
    assert written == []  # a standby does not export what its queue kept (the exact list below would show it)
    elector.granted.set()
    await async_wait_until(lambda: written == [3, 4], PATIENCE)
    gate.put(window(4))  # a late duplicate of a window already handed over is not queued again
    gate.put(window(5))
    await async_wait_until(lambda: written == [3, 4, 5], PATIENCE)
    stop.set()
    await running
    await queue.close(1)
    await gate.close()


def test_keep_windows_matches_the_store() -> None:
    assert LeaderExport.keep_windows(900, 60) == 15
    assert LeaderExport.keep_windows(900, 7) == 129


def test_leader_elect_flags_are_the_eventers_and_are_checked() -> None:
    import pytest

    from heapster.errors import UsageError
    from heapster.flags import heapster_parser, parse_flags, validate_heapster

    base = ["--source=static:?nodes=1"]
    settings = parse_flags(heapster_parser(), [*base, "--leader-elect"], validate_heapster)
    assert (settings["leader_elect_lease"], settings["leader_elect_lease_duration"],
            settings["leader_elect_renew_deadline"], settings["leader_elect_retry_period"]) == (
        "kube-system/heapster", 15.0, 10.0, 2.0)
    with pytest.raises(UsageError, match="--leader-elect-lease"):
        parse_flags(heapster_parser(), [*base, "--leader-elect", "--leader-elect-lease=nope"], validate_heapster)
    with pytest.raises(UsageError, match="renew-deadline"):
        parse_flags(heapster_parser(), [*base, "--leader-elect", "--leader-elect-renew-deadline=20s"],
                    validate_heapster)


async def test_a_source_without_a_leader_elector_is_a_usage_error() -> None:
    import pytest

    from heapster.app import build_daemon
    from heapster.errors import UsageError
    from heapster.flags import heapster_parser, parse_flags, validate_heapster

    settings = parse_flags(heapster_parser(), ["--source=static:?nodes=1", "--sink=log", "--leader-elect"],
                           validate_heapster)
    with pytest.raises(UsageError, match="no leader elector 'static'"):
        await build_daemon(settings)


async def test_with_shards_the_lease_holder_writes_the_aggregates_and_no_sink_is_gated() -> None:
    """--leader-elect with --shard: the Lease only decides who writes the namespace and cluster aggregates (any
    shard can take over from a dead one); without it shard 0 does."""
    from heapster.app import aggregator_role

    elector = Elector()
    gate = LeaderExport(elector, resolution=10.0, store_duration=900.0)  # type: ignore[arg-type]
    role = aggregator_role(2, gate)
    stop = asyncio.Event()
    running = asyncio.create_task(gate.run(stop))
    assert not role.is_aggregator()
    elector.granted.set()
    await async_wait_until(role.is_aggregator, PATIENCE, what="the Lease holder to aggregate")
    elector.lost.set()
    await async_wait_until(lambda: not gate.live, PATIENCE)
    elector._leading = False  # what a real elector reports once its renewals failed
    assert not role.is_aggregator()
    stop.set()
    await running
    await gate.close()
    assert aggregator_role(0, None).is_aggregator() and not aggregator_role(1, None).is_aggregator()
