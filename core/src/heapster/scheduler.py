"""The metrics pipeline loop: aligned windows, concurrent jittered scraping, processors, sink queues."""

from __future__ import annotations

import asyncio
import math
import random
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from heapster import selfmetrics
from heapster.columns import ColumnBatch
from heapster.interfaces import Clock, ColumnProcessor, MetricSource, Processor, ScrapeUnit, SystemClock
from heapster.memory import release_free_memory
from heapster.model import DataBatch, MetricSet
from heapster.pausepoint import pause
from heapster.scrapeloop import ScrapeLoop
from heapster.timefmt import utc_from_epoch
from heapster.timeouts import SharedTimeouts

if TYPE_CHECKING:
    from heapster.shards.coordinator import ShardCoordinator

log = structlog.get_logger("heapster.scheduler")

ScrapeResult = ColumnBatch | dict[str, MetricSet] | None

OFF_LOOP_SETS = 10_000
"""Batches of at least this many metric sets are joined and processed in a worker thread (about 100 nodes),
so the HTTP API keeps answering; smaller ones take milliseconds and stay on the event loop."""

MAX_NAMED_LATE = 20
"""At most this many late nodes are named in one ``scrape.deadline`` line (each is also logged on its own)."""

SCRAPES_PER_TICK = 10
"""Clusters of at least :data:`GROUPED_FROM` nodes start their jittered scrapes in groups of about this many
(the delays rounded down to a common tick): a group's GETs and decodes run back to back with warm CPU caches
instead of one lone wake-up every few ms. Measured (bench/kubelet_client_bench.py's client, 100 HTTPS kubelets
over 2 s, shared machine): 0.62-0.80 ms CPU per GET one by one, 0.40-0.47 ms in groups of 5-10."""
GROUPED_FROM = 100
"""Smaller clusters keep one random delay per node (Heapster's jitter)."""

PRIMING_DEADLINE_FACTOR = 4.0
"""The priming scrape (:meth:`Scheduler.prime`) has this many scrape deadlines, its starts spread as widely, and
no per-node timeout of the scheduler's (a unit's own, such as the kubelet client's from the moment its request
starts, still applies): it fits no window, and each node it misses must connect (TLS) in the first window instead.
The scheduler's node timeout also counts the wait for a connection slot: thousands of first connections queue
there, and cutting them mid-handshake wastes the work of both ends (measured: 2309 of 5000 cut at load 8-11)."""


MAX_UNIT_METRICS = 100_000
"""Most sources whose self-metric children the scheduler keeps at hand."""


def _no_pause() -> None:
    pass


class BatchConsumer(Protocol):
    """Where the scheduler hands each processed batch: a sink queue (or ``--leader-elect``'s gate before them)."""

    def put(self, batch: DataBatch) -> None: ...


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    """Timing of the pipeline; the defaults are Heapster's."""

    resolution: float = 60.0
    scrape_offset: float = 5.0
    scrape_deadline: float = 20.0
    node_timeout: float = 10.0
    jitter_per_unit: float = 0.008
    max_jitter: float = 4.0
    spread: float = 0.5
    """Large clusters spread their scrapes over up to this share of the scrape deadline (beyond ``max_jitter``;
    a ``max_jitter`` of 0 turns jitter off), so thousands of kubelets never answer in one burst."""
    max_housekeeps: int = 3
    shard_index: int = 0
    shard_count: int = 1


def _release_one_by_one(items: list[ColumnBatch]) -> None:
    """Empty ``items`` one at a time: a list freed at once frees every item in one C call, holding the GIL
    throughout (a window's per-node parts after their join: 10-14 ms at 1000 nodes, the API's thread waiting);
    between two items of this loop the interpreter can switch threads."""
    while items:
        if not len(items) % 64:
            pause()  # on the daemon's loop: as its own check for the API between two callbacks
        items.pop()


def _apply_paused(processor: ColumnProcessor, batch: DataBatch) -> None:
    """``processor.apply`` in a worker thread, after a pause point (:func:`heapster.pausepoint.pause`)."""
    pause()
    processor.apply(batch)


def in_shard(node: str, index: int, count: int) -> bool:
    """Whether ``node`` belongs to shard ``index`` of ``count``: a stable hash, the same in every replica."""
    return zlib.crc32(node.encode()) % count == index


class Scheduler:
    """Runs one housekeep per window: scrape every unit, process, hand the batch to each sink queue."""

    def __init__(
        self,
        source: MetricSource,
        processors: Sequence[Processor],
        sinks: Sequence[BatchConsumer],
        settings: SchedulerSettings | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        scrape_loop: ScrapeLoop | None = None,
        shards: ShardCoordinator | None = None,
        local_sink: BatchConsumer | None = None,
    ) -> None:
        self.source = source
        self.scrape_loop = scrape_loop
        """Where the units are scraped (a thread of its own in the daemon); None: on the caller's loop."""
        self.processors = list(processors)
        self.sinks = list(sinks)
        self.settings = settings or SchedulerSettings()
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.shards = shards
        """With ``--shard``: combines the shards' aggregates; ``local_sink`` (the metric store) then gets
        the whole cluster's namespaces and cluster, the other sinks what this shard exports."""
        self.local_sink = local_sink
        self._slots = asyncio.Semaphore(self.settings.max_housekeeps)
        self._process_lock = asyncio.Lock()
        self._housekeeps: set[asyncio.Task[None]] = set()
        self._failing: dict[str, str] = {}
        self.last_batch: tuple[datetime, int] | None = None
        """Window end and metric sets of the newest batch (not the batch: it would stay alive a window longer)."""
        self.batches = 0
        self._unit_metrics: dict[str, tuple[Any, Any]] = {}
        self.between_units: Callable[[], None] = _no_pause
        """Called on the scrape loop after each unit's scrape, before the next decode on that loop (the daemon
        pauses there for its API: a loop iteration may decode dozens of ready answers in a row)."""

    # --- the loop ----------------------------------------------------------------------------
    def next_window(self, now: float) -> tuple[float, float]:
        """The window ``[start, end)`` containing ``now``, aligned to the resolution."""
        res = self.settings.resolution
        start = math.floor(now / res) * res
        return start, start + res

    def following_window(self, end: float, now: float) -> tuple[float, float]:
        """The window after the one ending at ``end``, or the latest due one if the loop fell behind.

        Windows are counted on from the last one, not re-derived from ``now``: the wake-up of a
        window is its end plus the scrape offset, which at a resolution of at most the offset
        (5 s) already lies in the next window, and re-deriving would skip every other window.
        """
        res = self.settings.resolution
        latest_due_end = math.floor((now - self.settings.scrape_offset) / res) * res
        following_end = end + res
        if latest_due_end > following_end:  # the process was stopped or starved for whole windows
            log.warning("housekeep.behind", skipped_windows=round((latest_due_end - following_end) / res),
                        resumed_at=utc_from_epoch(latest_due_end).isoformat())
            following_end = latest_due_end
        return following_end - res, following_end

    async def run(self, stop: asyncio.Event) -> None:
        """Schedule a housekeep for every window until ``stop`` is set, then wait for running ones."""
        start, end = self.next_window(self.clock.now())
        while not stop.is_set():
            wake_at = end + self.settings.scrape_offset
            if await self._sleep_or_stop(wake_at - self.clock.now(), stop):
                break
            task = asyncio.create_task(self._housekeep_in_slot(start, end), name=f"housekeep:{end}")
            self._housekeeps.add(task)
            task.add_done_callback(self._housekeeps.discard)
            start, end = self.following_window(end, self.clock.now())
        if self._housekeeps:
            await asyncio.gather(*self._housekeeps, return_exceptions=True)

    async def _sleep_or_stop(self, seconds: float, stop: asyncio.Event) -> bool:
        """Sleep on the clock; True if ``stop`` was set meanwhile."""
        sleeper = asyncio.ensure_future(self.clock.sleep(max(0.0, seconds)))
        stopper = asyncio.ensure_future(stop.wait())
        _, pending = await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for fut in pending:
            fut.cancel()
        return stop.is_set()

    async def _housekeep_in_slot(self, start: float, end: float) -> None:
        acquire = asyncio.ensure_future(self._slots.acquire())
        timer = asyncio.ensure_future(self.clock.sleep(self.settings.resolution / 2))
        await asyncio.wait({acquire, timer}, return_when=asyncio.FIRST_COMPLETED)
        timer.cancel()
        if not acquire.done() or acquire.cancelled():
            acquire.cancel()
            selfmetrics.housekeeps_skipped.inc()
            log.warning("housekeep.skipped", window_end=utc_from_epoch(end).isoformat(),
                        reason="spent too long waiting for housekeeping to start")
            return
        try:
            await self.housekeep(start, end)
        except Exception:
            log.exception("housekeep.failed", window_end=utc_from_epoch(end).isoformat())
        finally:
            self._slots.release()
            release_free_memory()

    # --- one window ------------------------------------------------------------------------
    async def prime(self) -> DataBatch | None:
        """Before the first window: scrape every unit once and run the processors, handing no sink the batch.

        A start's cold costs then come before the first window instead of in it: a connection and TLS
        handshake per kubelet, each node's entity table, the pod enricher's parse of every pod, the
        aggregators' first runs. At 5000 nodes they took about 2.5 windows of 15 s of CPU, so the first
        window overran into the next ones, whose scrapes starved and timed out (batches with most nodes
        missing). Each processor is then told (:meth:`Processor.primed`): the rate calculator forgets these
        samples, so the first exported batch is a cold start's, like Go Heapster's (no rates yet).
        Returns the processed batch (None if a processor failed).
        """
        began = time.perf_counter()
        start, end = self.next_window(self.clock.now())
        log.info("scrape.priming", note="every node scraped and processed once before the first window; "
                                        "no sink gets this batch")
        batch = await self.scrape(start, end, self.settings.scrape_deadline * PRIMING_DEADLINE_FACTOR, priming=True)
        async with self._process_lock:
            processed = await self._process(batch)
            for processor in self.processors:
                processor.primed()
        log.info("scrape.primed", metric_sets=len(batch), seconds=round(time.perf_counter() - began, 1))
        return processed

    async def housekeep(self, start: float, end: float) -> DataBatch | None:
        """Scrape, process and queue the window ``[start, end)`` for every sink; returns the batch."""
        batch = await self.scrape(start, end)
        async with self._process_lock:
            if self.last_batch is not None and batch.timestamp <= self.last_batch[0]:
                log.warning("housekeep.out_of_order", window_end=batch.timestamp.isoformat())
            processed = await self._process(batch)
            if processed is None:
                return None
            batch = export = processed
            if self.shards is not None:
                split = await self.shards.finish(batch)
                batch, export = split.local, split.export
                export.seal()
            batch.seal()
            for sink in self.sinks:
                sink.put(batch if sink is self.local_sink or export is batch else export)
            if self.last_batch is None or batch.timestamp >= self.last_batch[0]:  # a late window is not the latest
                self.last_batch = (batch.timestamp, len(batch))
            self.batches += 1
        # Only queued here: each sink queue logs batch.exported when its sink really has the batch.
        log.info("batch.queued", window=batch.timestamp.isoformat(), metric_sets=len(batch),
                 sinks=len(self.sinks))
        return batch

    async def _process(self, batch: DataBatch) -> DataBatch | None:
        """Every processor in order; None if one failed (the batch is then dropped)."""
        for processor in self.processors:
            began = time.perf_counter()
            try:
                if isinstance(processor, ColumnProcessor) and len(batch) >= OFF_LOOP_SETS:
                    await asyncio.to_thread(_apply_paused, processor, batch)
                elif isinstance(processor, ColumnProcessor):
                    processor.apply(batch)
                else:
                    batch = await processor.process(batch)
            except Exception as exc:
                log.error("processor.failed", processor=processor.name, error=str(exc))
                return None
            finally:
                selfmetrics.processor_duration.labels(processor=processor.name).observe(
                    (time.perf_counter() - began) * 1000)
        return batch

    async def scrape(self, start: float, end: float, deadline: float | None = None, *,
                     priming: bool = False) -> DataBatch:
        """Scrape every unit concurrently, jittered, each within its timeout, all within the deadline (the scrape
        deadline unless given; ``priming``: no node timeout of the scheduler's)."""
        began = time.perf_counter()
        s = self.settings
        deadline = s.scrape_deadline if deadline is None else deadline
        batch = DataBatch(timestamp=utc_from_epoch(end))
        try:
            units = list(await asyncio.wait_for(self.source.scrape_units(), s.scrape_deadline))
        except Exception as exc:
            log.error("scrape.units.failed", source=self.source.name, error=str(exc))
            return batch
        if s.shard_count > 1:
            units = [u for u in units if in_shard(u.node or u.name, s.shard_index, s.shard_count)]
        selfmetrics.scrape_units.set(len(units))
        if not units:
            log.warning("scrape.no_units", source=self.source.name)
            return batch
        cap = max(s.max_jitter, s.spread * deadline) if s.max_jitter > 0 else 0.0  # 0: no jitter
        max_delay = min(s.jitter_per_unit * len(units), cap)
        delays = [self.rng.uniform(0, max_delay) for _ in units]
        if len(units) >= GROUPED_FROM and max_delay > 0:
            tick = max_delay * SCRAPES_PER_TICK / len(units)
            delays = [delay - delay % tick for delay in delays]
        node_timeout = None if priming else s.node_timeout
        work = self._scrape_all(units, utc_from_epoch(start), utc_from_epoch(end), delays, deadline, node_timeout)
        parts = await (self.scrape_loop.run(work) if self.scrape_loop is not None else work)
        if sum(len(part) for part in parts) >= OFF_LOOP_SETS:  # big joins are array work: off the event loop
            columns = await asyncio.to_thread(ColumnBatch.concat, parts)
        else:
            columns = ColumnBatch.concat(parts)
        batch = DataBatch(batch.timestamp, columns=columns)
        _release_one_by_one(parts)
        elapsed = (time.perf_counter() - began) * 1000
        selfmetrics.scrape_window_duration.labels(source=self.source.name).observe(elapsed)
        return batch

    async def _scrape_all(self, units: list[ScrapeUnit], start: datetime, end: datetime,
                          delays: list[float], deadline: float, node_timeout: float | None) -> list[ColumnBatch]:
        """Every unit concurrently, each after its delay, all within the deadline; the columns of those that
        answered."""
        # One sleep per start time, awaited by every unit starting then (the grouped ticks of a large cluster:
        # about ten units each), instead of a timer per unit.
        starts: dict[float, asyncio.Future[None]] = {}
        for delay in delays:
            if delay > 0 and delay not in starts:
                starts[delay] = asyncio.ensure_future(self.clock.sleep(delay))
        # The node timeouts: one timer per span of deadlines (a start group's units share one), not one per unit.
        timeouts = SharedTimeouts()
        tasks = [asyncio.create_task(self._scrape_unit(unit, start, end, starts.get(delay), node_timeout, timeouts))
                 for unit, delay in zip(units, delays, strict=True)]
        done, pending = await asyncio.wait(tasks, timeout=deadline)
        for sleep in starts.values():  # done, unless the deadline came first
            sleep.cancel()
        if pending:
            self._cut_at_deadline(units, tasks, pending, deadline)
        parts = []
        for task in tasks:  # in the units' order, the same every window (``done`` is a set: any order), so the
            if task not in done:  # processors and the store find the last window's rows where they were
                continue
            result = task.result()
            if result:
                parts.append(result if isinstance(result, ColumnBatch) else ColumnBatch.from_metric_sets(result))
        return parts

    def _cut_at_deadline(self, units: list[ScrapeUnit], tasks: list[asyncio.Task[ScrapeResult]],
                         pending: set[asyncio.Task[ScrapeResult]], deadline: float) -> None:
        """Cancel the units still running at the scrape deadline; each counts as a ``timeout`` failure."""
        late = [unit for unit, task in zip(units, tasks, strict=True) if task in pending]
        for task in pending:
            task.cancel()
        names = sorted(unit.node or unit.name for unit in late)
        log.warning("scrape.deadline", deadline=deadline, got=len(units) - len(late),
                    expected=len(units), late=names[:MAX_NAMED_LATE],
                    more=len(names) - MAX_NAMED_LATE if len(names) > MAX_NAMED_LATE else None)
        for unit in late:
            self._record_failure(unit, "timeout",
                                 f"still running at the scrape deadline of {deadline:g}s")

    def _record_failure(self, unit: ScrapeUnit, reason: str, error: str) -> None:
        """Count a failed unit; log it when its node starts failing or fails for a new reason."""
        node = unit.node or unit.name
        selfmetrics.scrape_failures.labels(node=node, reason=reason).inc()
        if self._failing.get(node) != reason:
            log.warning("scrape.node.failed", unit=unit.name, node=node, reason=reason, error=error)
        self._failing[node] = reason

    async def _scrape_unit(self, unit: ScrapeUnit, start: datetime, end: datetime,
                           started: asyncio.Future[None] | None, node_timeout: float | None,
                           timeouts: SharedTimeouts) -> ScrapeResult:
        if started is not None:  # the sleep shared by the units of this start time (only ever cancelled with
            await started  # them all: at the scrape deadline or when the scrape is cancelled)
        node = unit.node or unit.name
        began = time.perf_counter()
        try:
            # A timeout in this task, not wait_for: wait_for (3.11) runs the scrape in a task of its own, and a
            # failed task, its exception and the traceback's frames form a cycle that keeps everything
            # the scrape had read alive until a full collection.
            async with timeouts.timeout(node_timeout):
                result = await unit.scrape(start, end)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._timed(unit, began)
            reason = "timeout" if isinstance(exc, TimeoutError) else str(getattr(exc, "reason", "error"))
            error = (f"no answer within {node_timeout:g}s" if isinstance(exc, TimeoutError) and node_timeout is not None
                     else str(exc) or type(exc).__name__)
            self._record_failure(unit, reason, error)
            return None
        self._timed(unit, began)
        if self._failing.pop(node, None) is not None:
            log.info("scrape.node.recovered", unit=unit.name, node=node)
        self.between_units()
        return result

    def _timed(self, unit: ScrapeUnit, began: float) -> None:
        """Heapster's per-source scrape duration and last scrape time, ``source=<unit name>``."""
        if unit.timed:
            found = self._unit_metrics.get(unit.name)
            if found is None:  # labels() once per source: it costs more than the observation
                if len(self._unit_metrics) >= MAX_UNIT_METRICS:
                    self._unit_metrics.clear()
                found = self._unit_metrics[unit.name] = (selfmetrics.scraper_duration.labels(source=unit.name),
                                                         selfmetrics.scraper_last_time.labels(source=unit.name))
            found[0].observe((time.perf_counter() - began) * 1000)
            found[1].set(int(self.clock.now()))
