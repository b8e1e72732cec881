"""The export loop: every period drain the source, drop repeats, hand the batch to each sink, checkpoint."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from heapster.batchcodec import from_micros, micros, pack, unpack
from heapster.checkpoint import Checkpoint, MemoryCheckpointStore, rv_number
from heapster.errors import CheckpointConflict, PermanentError
from heapster.flags import SinkQueueBounds
from heapster.interfaces import (
    CheckpointStore,
    Clock,
    EventSink,
    EventSource,
    GapCountingSource,
    GapMemoryOnDemand,
    ResumableEventSource,
    SystemClock,
)
from heapster.memory import release_free_memory
from heapster.model import Event, EventBatch
from heapster.queuestore import QueueStore, UndecodableEntry, open_store
from heapster.sinkqueue import SinkQueue
from heapster_eventer import metrics
from heapster_eventer.dedup import Deduplicator, event_key

log = structlog.get_logger("heapster_eventer.manager")

DEFAULT_SINK_QUEUE = 60
"""Batches held per sink while it is down: 30 minutes at the default 30 s period."""


def next_tick(now: float, period: float) -> float:
    """Heapster's alignment: ``now.Truncate(period) + period``."""
    return (now // period) * period + period


def event_rv(event: Event) -> int | None:
    """The event's resourceVersion as an integer, if it is one."""
    meta = event.get("metadata") or {}
    return rv_number(meta.get("resourceVersion"))


@dataclass(slots=True)
class Delivery:
    """One batch for one sink, with the source position and cycle number it completes.

    ``replayed`` marks a delivery read back from a queue on disk after a restart (its cycle
    number, of the previous process, is not kept: it is 0).
    """

    batch: EventBatch
    position: str | None
    seq: int
    replayed: bool = False


class DeliveryCodec:
    """A :class:`Delivery` as bytes for a sink queue on disk: the event batch and its position."""

    def encode(self, item: Delivery) -> bytes:
        return pack([micros(item.batch.timestamp), item.position, item.batch.events])

    def decode(self, data: bytes) -> Delivery:
        stamp, position, events = unpack(data)
        return Delivery(EventBatch(from_micros(stamp) or datetime.now(UTC), events), position, 0, replayed=True)


def describe_delivery(delivery: Delivery) -> dict[str, Any]:
    """Log fields naming a delivery in the sink queue's lines."""
    return {"window": delivery.batch.timestamp.isoformat(), "position": delivery.position,
            "events": len(delivery.batch.events)}


@dataclass
class SinkChannel:
    """A sink, its queue, and how far it has exported."""

    ident: str
    sink: EventSink
    position: str | None = None
    floor: int | None = None
    """After a resume from an older position: events at or below this resourceVersion were exported."""
    seq: int = 0
    queue: SinkQueue[Delivery] | None = None
    started: bool = False


@dataclass
class ManagerSettings:
    """Tunables of the export loop."""

    frequency: float = 30.0
    export_timeout: float = 20.0
    stop_timeout: float = 60.0
    sink_queue_size: int = DEFAULT_SINK_QUEUE
    dedup_size: int = 20_000
    identity: str = ""
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    queue_dir: str = ""
    """Keep each sink's queue on disk here (empty: in memory)."""
    queue_max_bytes: int | None = None
    queue_max_age: float | None = None
    queues: Mapping[str, SinkQueueBounds] = field(default_factory=dict)
    """Per sink identity: bounds set by the sink's URI (``queue_*`` options), instead of the four above."""
    checkpoint: bool = True
    """Save a checkpoint after every export and at the end. ``False`` when nothing would read it back (a
    single term with the checkpoint in memory): no checkpoint is built, saved or counted."""


class EventManager:
    """Drives one leadership term: resume from the checkpoint, export every period, checkpoint.

    Each sink has its own :class:`SinkQueue` (bounded, retried with backoff) and its own
    position in the checkpoint, so a sink that is down holds back only itself: after a restart
    the source resumes from the oldest position and each sink skips what it already has.
    """

    def __init__(self, source: EventSource, sinks: Sequence[tuple[str, EventSink]], *,
                 store: CheckpointStore | None = None, settings: ManagerSettings | None = None,
                 clock: Clock | None = None) -> None:
        self.source = source
        self.settings = settings or ManagerSettings()
        self.store: CheckpointStore = store or MemoryCheckpointStore()
        self.clock = clock or SystemClock()
        self.channels = [SinkChannel(ident, sink) for ident, sink in sinks]
        self.dedup = Deduplicator(self.settings.dedup_size)
        self.fenced = asyncio.Event()
        self.last_cycle: float | None = None
        self._seq = 0
        self._pending_keys: dict[int, list[int]] = {}
        self._save_lock = asyncio.Lock()
        self._dropped_seen = 0
        self._lost_seen = 0
        self._trimming: asyncio.Future[None] | None = None

    # --- term lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the checkpoint, point the source at it, start the source and the sink queues."""
        checkpoint = await self.store.load()
        resume: str | None = None
        if checkpoint is not None:
            self.dedup.restore(checkpoint.dedup)
            resume = checkpoint.resume_position([ch.ident for ch in self.channels])
            resume_n = rv_number(resume)
            for ch in self.channels:
                ch.position = checkpoint.positions.get(ch.ident)
                own = rv_number(ch.position)
                if own is not None and resume_n is not None and own > resume_n:
                    ch.floor = own
        if isinstance(self.source, ResumableEventSource):
            self.source.resume_from(resume)
        if isinstance(self.source, GapMemoryOnDemand):
            self.source.keep_gap_memory(self.settings.checkpoint)
        if checkpoint is not None and isinstance(self.source, GapCountingSource):
            self.source.restore_gap_memory(checkpoint.gap_memory)
        log.info("eventer.resume", position=resume, checkpoint=self.store.description,
                 remembered=len(self.dedup))
        for ch in self.channels:
            ch.queue = self._queue_for(ch)
            ch.queue.start()
        await self.source.start()

    async def run(self, stop: asyncio.Event) -> None:
        """Export at every aligned period until ``stop`` is set or the checkpoint is fenced."""
        while not stop.is_set() and not self.fenced.is_set():
            now = self.clock.now()
            if not await self._sleep_or_stop(next_tick(now, self.settings.frequency) - now, stop):
                return
            await self.cycle()

    async def stop(self, *, flush: bool = True) -> None:
        """End the term: with ``flush``, export what is left and wait for the sinks; then checkpoint.

        Without ``flush`` (leadership lost) nothing more is exported: whatever was not exported
        is still after the checkpointed position and the next leader exports it.
        """
        if flush and not self.fenced.is_set():
            try:
                await self.cycle()
            except Exception as exc:
                log.warning("eventer.final_cycle.failed", error=str(exc))
        timeout = self.settings.stop_timeout if flush and not self.fenced.is_set() else 0.0
        for ch in self.channels:
            if ch.queue is not None:
                await ch.queue.close(timeout)
        if flush and not self.fenced.is_set():
            await self.save_checkpoint()
        if self._trimming is not None:
            self._trimming.cancel()
        await self.source.close()

    # --- one period ---------------------------------------------------------------------------------
    async def cycle(self) -> int:
        """Drain the source once and queue the new events for every sink; returns how many were new."""
        started = time.perf_counter()
        batch = await self.source.get_new_events()
        position = self.source.position if isinstance(self.source, ResumableEventSource) else None
        now = self.clock.now()
        metrics.scraper_duration.observe((time.perf_counter() - started) * 1000)
        metrics.scraper_last_time.set(now)
        metrics.scraper_events.inc(len(batch.events))
        before = self.dedup.duplicates
        fresh = self.dedup.filter(batch.events)
        metrics.duplicates.inc(self.dedup.duplicates - before)
        self._seq += 1
        seq = self._seq
        if self.settings.checkpoint:
            keys = [k for k in (event_key(e) for e in fresh) if k is not None]
            if keys:
                self._pending_keys[seq] = keys
        log.info("eventer.exporting", events=len(fresh), duplicates=self.dedup.duplicates - before,
                 position=position)
        for ch in self.channels:
            events = fresh
            if ch.floor is not None:
                events = [e for e in fresh if (event_rv(e) or 0) > ch.floor]
            if ch.queue is not None:
                ch.queue.put(Delivery(EventBatch(batch.timestamp, events), position, seq))
        self.last_cycle = now
        metrics.manager_last_time.set(now)
        self.update_buffer_metrics()
        if self._trimming is None or self._trimming.done():
            self._trimming = asyncio.ensure_future(self._trim_when_exported())
        return len(fresh)

    async def _trim_when_exported(self) -> None:
        """Once every sink has its batch (or dropped it), hand the heap the batch used back to the OS.

        The decoded batch is the eventer's biggest allocation (~3 KB an event); trimmed right away,
        RSS between two cycles stays near the import floor instead of the last batch's peak.
        """
        await asyncio.gather(*(ch.queue.drained() for ch in self.channels if ch.queue is not None))
        release_free_memory()

    def update_buffer_metrics(self) -> None:
        """Copy the source's buffer figures into the self-metrics."""
        depth = getattr(self.source, "buffer_depth", None)
        if depth is not None:
            metrics.buffer_depth.set(depth)
        capacity = getattr(self.source, "buffer_capacity", None)
        if capacity is not None:
            metrics.buffer_capacity.set(capacity)
        dropped = getattr(self.source, "dropped_events", None)
        if dropped is not None and dropped > self._dropped_seen:
            metrics.buffer_dropped.inc(dropped - self._dropped_seen)
            self._dropped_seen = dropped
        lost = getattr(self.source, "lost_events", None)
        if lost is not None and lost > self._lost_seen:
            metrics.events_lost.inc(lost - self._lost_seen)
            self._lost_seen = lost

    # --- checkpoint ---------------------------------------------------------------------------------
    def checkpoint(self) -> Checkpoint:
        """The checkpoint as of now: each sink's position, and the keys of fully exported events.

        Only keys above the position a restart resumes from are kept: the source never hands
        out a version at or below it again (a relist after 410 starts above it too), so the
        older keys could only grow the checkpoint.
        """
        committed = min((ch.seq for ch in self.channels), default=self._seq)
        for seq in [s for s in self._pending_keys if s <= committed]:
            del self._pending_keys[seq]
        uncommitted = {k for keys in self._pending_keys.values() for k in keys}
        positions = {ch.ident: ch.position for ch in self.channels if ch.position is not None}
        checkpoint = Checkpoint(positions, [], self.settings.identity)
        resume = checkpoint.resume_position([ch.ident for ch in self.channels])
        above = rv_number(resume)
        checkpoint.dedup = self.dedup.snapshot(above=above, exclude=uncommitted)
        if isinstance(self.source, GapCountingSource):
            checkpoint.gap_memory = self.source.gap_memory()
        return checkpoint

    async def save_checkpoint(self) -> None:
        """Write the checkpoint; a conflict means another replica took over (sets ``fenced``).

        Nothing is built or written when the settings keep no checkpoint.
        """
        if self.fenced.is_set() or not self.settings.checkpoint:
            return
        async with self._save_lock:
            try:
                await self.store.save(self.checkpoint())
            except CheckpointConflict as exc:
                metrics.checkpoint_writes.labels(outcome="conflict").inc()
                log.error("eventer.checkpoint.conflict", error=str(exc))
                self.fenced.set()
                return
            except Exception as exc:
                metrics.checkpoint_writes.labels(outcome="failed").inc()
                log.warning("eventer.checkpoint.failed", store=self.store.description, error=str(exc))
                return
        metrics.checkpoint_writes.labels(outcome="ok").inc()

    # --- sinks --------------------------------------------------------------------------------------
    def _queue_for(self, ch: SinkChannel) -> SinkQueue[Delivery]:
        own = self.settings.queues.get(ch.ident)
        bounds = own or SinkQueueBounds(self.settings.queue_dir, self.settings.sink_queue_size,
                                        self.settings.queue_max_bytes, self.settings.queue_max_age)
        store = open_store(bounds.directory, "events", ch.ident, DeliveryCodec())
        exported_up_to = rv_number(ch.position)  # by the checkpoint: every event at or below is exported
        self._skip_what_is_queued(ch, store)

        async def export(delivery: Delivery) -> None:
            if delivery.replayed and exported_up_to is not None:
                # Kept from an earlier run: drop what the checkpoint says this sink already has
                # (exported by another leader meanwhile, or before the crash).
                events = [e for e in delivery.batch.events if (event_rv(e) or 0) > exported_up_to]
                delivery = Delivery(EventBatch(delivery.batch.timestamp, events), delivery.position,
                                    delivery.seq, replayed=True)
            await self._export(ch, delivery)

        async def start() -> None:
            if not ch.started:
                await ch.sink.start()
                ch.started = True

        return SinkQueue(ch.sink.name, export, start=start, capacity=bounds.size,
                         export_timeout=self.settings.export_timeout, backoff_initial=self.settings.backoff_initial,
                         backoff_max=self.settings.backoff_max, clock=self.clock, store=store,
                         max_bytes=bounds.max_bytes if store.durable else None,
                         max_age=bounds.max_age, describe=describe_delivery)

    @staticmethod
    def _skip_what_is_queued(ch: SinkChannel, store: QueueStore[Delivery]) -> None:
        """Events up to the newest position a queue on disk holds are exported from the queue, not read again."""
        try:
            newest = store.newest()
        except UndecodableEntry:
            return
        queued = rv_number(newest.item.position) if newest is not None else None
        if queued is not None and queued > (ch.floor or rv_number(ch.position) or 0):
            ch.floor = queued

    async def _export(self, ch: SinkChannel, delivery: Delivery) -> None:
        if self.fenced.is_set():
            msg = "no longer the leader"
            raise PermanentError(msg, dropped=0)
        started = time.perf_counter()
        try:
            await ch.sink.export_events(delivery.batch)
        except PermanentError:
            self._advance(ch, delivery)
            raise
        metrics.exporter_duration.labels(exporter=ch.sink.name).observe((time.perf_counter() - started) * 1000)
        metrics.exported_events.labels(exporter=ch.sink.name).inc(len(delivery.batch.events))
        self._advance(ch, delivery)
        await self.save_checkpoint()

    def _advance(self, ch: SinkChannel, delivery: Delivery) -> None:
        if delivery.position is not None:
            ch.position = delivery.position
            # A replayed delivery does not lift the floor: the source reads its events again,
            # and this sink must skip them until a new delivery passes the floor.
            if ch.floor is not None and not delivery.replayed and (rv_number(delivery.position) or 0) >= ch.floor:
                ch.floor = None
        ch.seq = delivery.seq

    # --- helpers ------------------------------------------------------------------------------------
    async def _sleep_or_stop(self, seconds: float, stop: asyncio.Event) -> bool:
        """Sleep ``seconds`` of the clock; ``False`` if ``stop`` or fencing came first."""
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.fenced.wait())]
        try:
            await asyncio.wait([sleeper, *waiters], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, *waiters):
                task.cancel()
        return not stop.is_set() and not self.fenced.is_set()


def describe_sinks(channels: Sequence[SinkChannel]) -> list[dict[str, Any]]:
    """Per-sink state for logs and the status page."""
    return [{"sink": ch.ident, "position": ch.position, "queued": ch.queue.depth if ch.queue else 0}
            for ch in channels]

