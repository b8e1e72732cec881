"""Sink queues on disk (--sink_queue_dir): a kill during a sink outage loses nothing the eventer read,
and the restart exports nothing twice (issue 13 item 2), and the flush wakes a sleeping worker (item 3)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from heapster.checkpoint import Checkpoint, MemoryCheckpointStore
from heapster.testing.clock import FakeClock, settle
from heapster.testing.events import ScriptedEventSource, event
from heapster.testing.net import PATIENCE
from heapster.testing.recording import RecordingEventSink
from heapster_eventer.app import Eventer
from heapster_eventer.flags import parse_args
from heapster_eventer.manager import EventManager, ManagerSettings
from heapster_eventer.testing import rvs


def _manager(source: ScriptedEventSource, sinks: list[RecordingEventSink], store: MemoryCheckpointStore,
             clock: FakeClock, queue_dir: Path) -> EventManager:
    return EventManager(source, [(s.name, s) for s in sinks], store=store, clock=clock,
                        settings=ManagerSettings(frequency=30.0, backoff_initial=1.0, backoff_max=60.0,
                                                 stop_timeout=2.0, queue_dir=str(queue_dir)))


def _kill(manager: EventManager) -> None:
    """What SIGKILL leaves: the queue files as they are, no flush, no checkpoint."""
    for ch in manager.channels:
        assert ch.queue is not None
        task = ch.queue._task
        if task is not None:
            task.cancel()
        ch.queue._store.close()


async def _drain(manager: EventManager) -> None:
    for ch in manager.channels:
        assert ch.queue is not None
        await asyncio.wait_for(ch.queue.drained(), PATIENCE)
    await settle()


async def test_a_kill_during_an_outage_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    clock = FakeClock()
    store = MemoryCheckpointStore()
    source = ScriptedEventSource()
    up, down = RecordingEventSink("up"), RecordingEventSink("down")
    manager = _manager(source, [up, down], store, clock, tmp_path)
    await manager.start()
    source.feed(event("x", 1), event("y", 2))
    await manager.cycle()
    await _drain(manager)
    down.fail_retryable(10**6)  # "down" goes down
    source.feed(event("x", 3, count=2), event("z", 4))
    await manager.cycle()
    source.feed(event("w", 5))
    await manager.cycle()
    await clock.advance(3)
    saved = await store.load()
    assert saved is not None and saved.positions == {"up": "5", "down": "2"}
    _kill(manager)

    restarted = ScriptedEventSource(source.history)
    up2, down2 = RecordingEventSink("up"), RecordingEventSink("down")  # "down" is back
    manager2 = _manager(restarted, [up2, down2], store, clock, tmp_path)
    await manager2.start()
    assert restarted.resumed_from == "2"  # the source reads 3..5 again; "down" has them queued on disk
    restarted.feed(event("v", 6))
    await manager2.cycle()
    await _drain(manager2)
    assert rvs(up) + rvs(up2) == [1, 2, 3, 4, 5, 6]
    assert rvs(down) + rvs(down2) == [1, 2, 3, 4, 5, 6]
    await manager2.stop()
    final = await store.load()
    assert final is not None and final.positions == {"up": "6", "down": "6"}


async def test_a_replayed_batch_skips_what_the_checkpoint_says_was_exported(tmp_path: Path) -> None:
    clock = FakeClock()
    store = MemoryCheckpointStore()
    source = ScriptedEventSource()
    sink = RecordingEventSink("s")
    manager = _manager(source, [sink], store, clock, tmp_path)
    await manager.start()
    sink.fail_retryable(10**6)
    source.feed(event("x", 1), event("y", 2))
    await manager.cycle()
    await clock.advance(1)
    _kill(manager)
    # Meanwhile another replica exported up to 2 and checkpointed it.
    await store.save(Checkpoint({"s": "2"}, [], "another replica"))
    again = RecordingEventSink("s")
    manager2 = _manager(ScriptedEventSource(source.history), [again], store, clock, tmp_path)
    await manager2.start()
    await manager2.cycle()
    await _drain(manager2)
    assert rvs(again) == []
    await manager2.stop()


async def test_the_final_flush_wakes_a_worker_sleeping_in_its_backoff(tmp_path: Path) -> None:
    clock = FakeClock()
    source = ScriptedEventSource()
    sink = RecordingEventSink("s")
    manager = _manager(source, [sink], MemoryCheckpointStore(), clock, tmp_path)
    await manager.start()
    sink.fail_retryable(10**6)
    source.feed(event("x", 1), event("y", 2))
    await manager.cycle()
    for _ in range(10):
        await clock.advance(60)
    assert rvs(sink) == []
    sink.retryable_failures = 0  # back, and nobody moves the clock: the flush must not wait for it
    await manager.stop()
    assert rvs(sink) == [1, 2]


async def test_a_sink_uri_can_put_its_own_queue_on_disk(tmp_path: Path) -> None:
    options = parse_args(["--source=kubernetes:http://127.0.0.1:1?inClusterConfig=false",
                          f"--sink=log:?queue_dir={tmp_path}&queue_max_age=2h", "--sink=log"])
    built = Eventer(options).build()
    on_disk, in_memory = (built.queues[ident] for ident, _ in built.sinks)
    assert (on_disk.directory, on_disk.size, on_disk.max_age) == (str(tmp_path), 100_000, 7200.0)
    assert (in_memory.directory, in_memory.size, in_memory.max_bytes) == ("", 60, None)
    manager = EventManager(ScriptedEventSource(), built.sinks, settings=ManagerSettings(queues=built.queues),
                           clock=FakeClock())
    await manager.start()
    assert [ch.queue.durable for ch in manager.channels if ch.queue is not None] == [True, False]
    await manager.stop()
