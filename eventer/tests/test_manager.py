"""The export loop with a fake clock: alignment, fan-out, per-sink checkpoints, dedup, restart, fencing."""

from __future__ import annotations

import asyncio
from typing import Any

from heapster.checkpoint import Checkpoint, MemoryCheckpointStore
from heapster.errors import CheckpointConflict
from heapster.testing.clock import FakeClock, settle
from heapster.testing.events import ScriptedEventSource, event
from heapster.testing.net import PATIENCE
from heapster.testing.recording import RecordingEventSink
from heapster_eventer.manager import EventManager, ManagerSettings, next_tick
from heapster_eventer.testing import rvs


def _manager(source: ScriptedEventSource, sinks: list[RecordingEventSink], store: MemoryCheckpointStore,
             clock: FakeClock, **settings: float) -> EventManager:
    return EventManager(source, [(s.name, s) for s in sinks], store=store, clock=clock,
                        settings=ManagerSettings(frequency=30.0, backoff_initial=1.0, backoff_max=2.0,
                                                 stop_timeout=5.0, **settings))  # type: ignore[arg-type]


async def _drain(manager: EventManager) -> None:
    for ch in manager.channels:
        assert ch.queue is not None
        await asyncio.wait_for(ch.queue.drained(), PATIENCE)
    await settle()


def test_alignment_is_heapsters_truncate_plus_period() -> None:
    assert next_tick(1_000_000_007.5, 30) == 1_000_000_020.0
    assert next_tick(1_000_000_020.0, 30) == 1_000_000_050.0
    assert next_tick(95.0, 60) == 120.0


async def test_runs_on_aligned_ticks_and_exports_to_every_sink() -> None:
    clock = FakeClock(start=1_700_000_005.0)
    source = ScriptedEventSource()
    a, b = RecordingEventSink("a"), RecordingEventSink("b")
    manager = _manager(source, [a, b], MemoryCheckpointStore(), clock)
    await manager.start()
    stop = asyncio.Event()
    runner = asyncio.create_task(manager.run(stop))
    source.feed(event("x", 101), event("y", 102))
    await clock.advance(14.0)  # the first aligned tick after ...005 is ...010
    assert manager.last_cycle == 1_700_000_010.0
    await _drain(manager)
    assert rvs(a) == rvs(b) == [101, 102]
    source.feed(event("x", 103, count=2))
    await clock.advance(30.0)
    assert manager.last_cycle == 1_700_000_040.0
    await _drain(manager)
    assert rvs(a) == [101, 102, 103]
    stop.set()
    await runner
    await manager.stop()
    assert source.closed


async def test_checkpoint_records_each_sinks_position_and_restart_resumes_without_loss_or_repeat() -> None:
    clock = FakeClock()
    store = MemoryCheckpointStore()
    source = ScriptedEventSource()
    a, b = RecordingEventSink("a"), RecordingEventSink("b")
    manager = _manager(source, [a, b], store, clock)
    await manager.start()
    assert source.resumed_from is None
    source.feed(event("x", 1), event("y", 2))
    await manager.cycle()
    await _drain(manager)
    b.fail_retryable(100)  # b goes down
    source.feed(event("x", 3, count=2), event("z", 4))
    await manager.cycle()
    await clock.advance(3)
    await settle()
    saved = await store.load()
    assert saved is not None
    assert saved.positions == {"a": "4", "b": "2"}
    # the process dies here; b's queued batch is lost with it
    restarted_source = ScriptedEventSource(source.history)
    a2, b2 = RecordingEventSink("a"), RecordingEventSink("b")
    manager2 = _manager(restarted_source, [a2, b2], store, clock)
    await manager2.start()
    assert restarted_source.resumed_from == "2"  # the oldest sink position
    restarted_source.feed(event("w", 5))
    await manager2.cycle()
    await _drain(manager2)
    assert rvs(a) + rvs(a2) == [1, 2, 3, 4, 5]  # a skips what it had (floor), nothing twice
    assert rvs(b) + rvs(b2) == [1, 2, 3, 4, 5]
    await manager2.stop()
    final = await store.load()
    assert final is not None and final.positions == {"a": "5", "b": "5"}


async def test_duplicates_by_uid_and_resource_version_are_exported_once() -> None:
    clock = FakeClock()
    source = ScriptedEventSource()
    sink = RecordingEventSink("s")
    manager = _manager(source, [sink], MemoryCheckpointStore(), clock)
    await manager.start()
    source.feed(event("x", 1), event("x", 1), event("x", 2, count=2))
    await manager.cycle()
    source.buffer.append(event("x", 2, count=2))  # replayed by a relist
    await manager.cycle()
    await _drain(manager)
    assert rvs(sink) == [1, 2]
    assert manager.dedup.duplicates == 2
    await manager.stop()


async def test_dedup_keys_are_checkpointed_only_once_every_sink_exported_them() -> None:
    clock = FakeClock()
    store = MemoryCheckpointStore()
    source = ScriptedEventSource()
    ok, down = RecordingEventSink("ok"), RecordingEventSink("down")
    manager = _manager(source, [ok, down], store, clock)
    await manager.start()
    source.feed(event("x", 1))
    await manager.cycle()
    source.buffer.append(event("r", 5))  # handed out by a relist while the position stays at 1
    await manager.cycle()
    await _drain(manager)
    down.fail_retryable(100)
    source.feed(event("y", 2))
    await manager.cycle()
    await clock.advance(2)
    await settle()
    saved = await store.load()
    assert saved is not None
    assert saved.positions == {"ok": "2", "down": "1"}
    # x (rv 1) is at the resume position: never handed out again, so not kept; y is not exported
    # by "down" yet: a restart must still deliver it there; r (rv 5) can come back with a relist.
    assert [k.partition(":")[2] for k in saved.dedup] == ["5"]


async def test_a_retryable_failure_loses_nothing_and_other_sinks_do_not_wait() -> None:
    clock = FakeClock()
    source = ScriptedEventSource()
    good, flaky = RecordingEventSink("good"), RecordingEventSink("flaky")
    manager = _manager(source, [good, flaky], MemoryCheckpointStore(), clock)
    await manager.start()
    flaky.fail_retryable(3)
    source.feed(event("x", 1))
    await manager.cycle()
    await settle()
    assert rvs(good) == [1] and rvs(flaky) == []
    for _ in range(5):
        await clock.advance(2.0)
    await _drain(manager)
    assert rvs(flaky) == [1]
    await manager.stop()


async def test_stop_exports_what_is_left_and_checkpoints() -> None:
    clock = FakeClock()
    store = MemoryCheckpointStore()
    source = ScriptedEventSource()
    sink = RecordingEventSink("s")
    manager = _manager(source, [sink], store, clock)
    await manager.start()
    source.feed(event("x", 7))
    await manager.stop()
    assert rvs(sink) == [7]
    assert sink.closed is False  # the daemon closes sinks once, at exit
    saved = await store.load()
    assert saved is not None and saved.positions == {"s": "7"}


class ConflictingStore(MemoryCheckpointStore):
    """A store another replica has written to since we read it."""

    async def save(self, checkpoint: Checkpoint) -> None:
        raise CheckpointConflict("changed by another writer")


async def test_a_checkpoint_conflict_fences_the_manager() -> None:
    clock = FakeClock()
    source = ScriptedEventSource()
    sink = RecordingEventSink("s")
    manager = _manager(source, [sink], ConflictingStore(), clock)
    await manager.start()
    runner = asyncio.create_task(manager.run(asyncio.Event()))
    source.feed(event("x", 1))
    await clock.advance(30)
    await _drain(manager)
    await asyncio.wait_for(runner, PATIENCE)  # run() returned by itself
    assert manager.fenced.is_set()
    source.feed(event("y", 2))
    await manager.stop(flush=False)
    assert rvs(sink) == [1]


class GapSource(ScriptedEventSource):
    """A scripted source that also counts lost versions and keeps a gap memory, as the Kubernetes one."""

    def __init__(self, history: list[dict[str, Any]] | None = None) -> None:
        super().__init__(history)
        self.lost_events = 0
        self.memory: dict[str, Any] = {}

    def gap_memory(self) -> dict[str, Any]:
        return dict(self.memory)

    def restore_gap_memory(self, document: dict[str, Any]) -> None:
        self.memory = dict(document)


class OnDemandGapSource(GapSource):
    """A gap-counting source that is told whether its memory will be asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: list[bool] = []

    def keep_gap_memory(self, keep: bool) -> None:
        self.kept.append(keep)


async def test_a_source_is_told_whether_a_checkpoint_will_ask_for_its_gap_memory() -> None:
    for checkpoint in (True, False):
        source = OnDemandGapSource()
        manager = _manager(source, [RecordingEventSink("s")], MemoryCheckpointStore(), FakeClock(),
                           checkpoint=checkpoint)
        await manager.start()
        assert source.kept == [checkpoint]
        await manager.stop(flush=False)


async def test_the_gap_memory_and_lost_versions_go_to_the_checkpoint_and_metrics() -> None:
    from heapster.selfmetrics import REGISTRY

    def lost_metric() -> float:
        return REGISTRY.get_sample_value("eventer_events_lost_total") or 0.0

    clock = FakeClock()
    store = MemoryCheckpointStore()
    source = GapSource()
    sink = RecordingEventSink("s")
    manager = _manager(source, [sink], store, clock)
    await manager.start()
    before = lost_metric()
    source.memory = {"counts": {"00000000000000aa": 2}}
    source.lost_events = 3
    source.feed(event("x", 1))
    await manager.cycle()
    await _drain(manager)
    assert lost_metric() - before == 3
    saved = await store.load()
    assert saved is not None and saved.gap_memory == {"counts": {"00000000000000aa": 2}}
    restarted = GapSource(source.history)
    manager2 = _manager(restarted, [RecordingEventSink("s")], store, clock)
    await manager2.start()
    assert restarted.memory == {"counts": {"00000000000000aa": 2}}
    await manager.stop(flush=False)
    await manager2.stop(flush=False)
