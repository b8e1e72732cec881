"""``--leader-elect`` for heapster: every replica scrapes and serves, only the Lease holder exports.

Each replica keeps the processed batches not yet acknowledged by every sink (as the Lease
says), at most those of the last ``store_duration`` (the span of its metric store), in a ring.
The leader records in the Lease, per sink, the last window that sink acknowledged (annotation
:data:`ACKED_ANNOTATION`); a replica that becomes leader reads it and
hands every sink the windows after its acknowledged one from its ring, in order, then goes live.
A leader that cannot renew stops its sink queues (an export in flight is cancelled) before its
Lease can expire, so two replicas never export at once.

An acknowledgement is written to the Lease at once (the elector renews right away). A window
acknowledged in the milliseconds before that write, when the leader is killed then, is written
again by the next leader; sinks that write points keyed by series and timestamp (InfluxDB,
Prometheus remote write, OpenTSDB, ...) store it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
from collections import deque
from collections.abc import Callable
from datetime import datetime

import structlog

from heapster import selfmetrics
from heapster.aio import unless_set
from heapster.interfaces import LeaderElector
from heapster.model import DataBatch
from heapster.sinkqueue import SinkQueue

log = structlog.get_logger("heapster.handover")

ACKED_ANNOTATION = "heapster.k8s.io/acknowledged-windows"
"""JSON object: sink (its masked URI) -> end of the last window it acknowledged (ISO 8601)."""


class LeaderExport:
    """Stands in the scheduler's sink list for the exporting sink queues and lets only the leader feed them."""

    name = "leader export"

    def __init__(self, elector: LeaderElector, *, resolution: float, store_duration: float) -> None:
        self.elector = elector
        self.resolution = resolution
        keep_windows = self.keep_windows(store_duration, resolution)
        self.queues: list[SinkQueue[DataBatch]] = []
        self.idents: list[str] = []
        self.recent: deque[DataBatch] = deque(maxlen=max(1, keep_windows))
        self.acked: dict[str, datetime] = {}
        self.live = False
        self.replayed = 0
        self.missing = 0
        self._holding: asyncio.Future[None] | None = None
        self._suspending: asyncio.Future[None] | None = None
        self._floor: dict[str, datetime | None] = {}
        """Per sink, the last window the previous leader had acknowledged when this term began."""

    def add(self, ident: str, queue: SinkQueue[DataBatch]) -> None:
        """Export to ``queue`` (built with ``on_exported=self.acknowledger(ident)``) while leading."""
        self.idents.append(ident)
        self.queues.append(queue)

    @staticmethod
    def keep_windows(store_duration: float, resolution: float) -> int:
        """Windows held for a handover: as many as the metric store keeps."""
        return max(1, math.ceil(store_duration / resolution))

    # --- the scheduler's side ---------------------------------------------------------------------
    def put(self, batch: DataBatch) -> None:
        """Keep ``batch`` for a handover; queue it for every sink while this replica leads."""
        self.recent.append(batch)
        self._trim()
        if self.live:
            for ident, queue in zip(self.idents, self.queues, strict=True):
                floor = self._floor.get(ident)
                if floor is None or batch.timestamp > floor:  # the last leader may have been a window ahead
                    queue.put(batch)

    def _trim(self) -> None:
        """Forget the windows every sink has acknowledged (as this leader saw, or as the Lease last read says).

        Normally that leaves a window or two; only while a sink is down does the ring fill up to
        ``store_duration``.
        """
        acked = self.acked if self.live else self._read_acked()
        if not self.idents or any(ident not in acked for ident in self.idents):
            return
        done = min(acked[ident] for ident in self.idents)
        while self.recent and self.recent[0].timestamp <= done:
            self.recent.popleft()

    # --- acknowledgements ------------------------------------------------------------------------
    def acknowledger(self, ident: str) -> Callable[[DataBatch], None]:
        """The ``on_exported`` callback of sink ``ident``'s queue: records the window it acknowledged."""

        def acknowledged(batch: DataBatch) -> None:
            previous = self.acked.get(ident)
            if previous is None or batch.timestamp > previous:
                self.acked[ident] = batch.timestamp
                if self.live:
                    self.elector.annotate({ACKED_ANNOTATION: self._acked_json()})

        return acknowledged

    def _acked_json(self) -> str:
        return json.dumps({ident: ts.isoformat() for ident, ts in sorted(self.acked.items())}, sort_keys=True)

    def _read_acked(self) -> dict[str, datetime]:
        text = self.elector.annotations.get(ACKED_ANNOTATION)
        if not text:
            return {}
        try:
            return {ident: datetime.fromisoformat(ts) for ident, ts in json.loads(text).items()}
        except (ValueError, AttributeError, TypeError) as exc:
            log.warning("handover.annotation.bad", annotation=ACKED_ANNOTATION, error=str(exc))
            return {}

    # --- terms ------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Stand by, lead, and stand by again, until ``stop`` is set (the Lease is then kept for :meth:`close`)."""
        selfmetrics.leader.set(0)
        while not stop.is_set():
            if not (await unless_set(self.elector.acquire(), stop))[0]:
                return
            self._begin_term()
            holding = asyncio.ensure_future(self.elector.hold())
            waiter = asyncio.ensure_future(stop.wait())
            await asyncio.wait({holding, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if not holding.done():  # stopping: keep renewing while the sinks flush; close() ends it
                self._holding = holding
                holding.add_done_callback(self._lost_while_stopping)
                return
            holding.result()
            await self._end_term()

    def _begin_term(self) -> None:
        """Hand every sink the windows after the ones it acknowledged under the last leader, then go live."""
        recorded = self._read_acked()
        self.acked = dict(recorded)
        self._floor = {}
        for ident, queue in zip(self.idents, self.queues, strict=True):
            after = recorded.get(ident)
            if after is not None:  # a queue on disk may keep windows from this replica's last run
                queue.forget_waiting_through(functools.partial(_before_or_at, bound=after))
            held = _window_of(queue.newest_label())
            floor = max(after, held) if after is not None and held is not None else (after or held)
            windows = [b for b in self.recent if floor is None or b.timestamp > floor]
            for batch in windows:
                queue.put(batch)
            self._floor[ident] = windows[-1].timestamp if windows else floor  # live windows come after these
            queue.start()  # also exports what a queue on disk kept
            if after is not None:
                selfmetrics.handover_replayed_windows.labels(sink=ident).inc(len(windows))
                self.replayed += len(windows)
                missing = self._missing(max(after, held) if held else after, windows)
                if missing:
                    self.missing += missing
                    selfmetrics.handover_missing_windows.labels(sink=ident).inc(missing)
                    log.warning("handover.windows.missing", sink=ident, acknowledged=after.isoformat(),
                                first_held=windows[0].timestamp.isoformat() if windows else None, missing=missing)
            log.info("handover.replay", sink=ident, acknowledged=after.isoformat() if after else None,
                     windows=len(windows), first=windows[0].timestamp.isoformat() if windows else None)
        self.live = True
        selfmetrics.leader.set(1)
        if self.acked:
            self.elector.annotate({ACKED_ANNOTATION: self._acked_json()})

    def _missing(self, after: datetime, windows: list[DataBatch]) -> int:
        """Windows between ``after`` and the first one held (gone from the ring, or from before this replica ran)."""
        if not windows:
            return 0
        return max(0, round((windows[0].timestamp - after).total_seconds() / self.resolution) - 1)

    async def _end_term(self) -> None:
        """Leadership lost: stop every sink queue at once; what they held is still in the ring."""
        self.live = False
        selfmetrics.leader.set(0)
        dropped = 0
        for queue in self.queues:
            dropped += await queue.suspend()
        log.warning("handover.stopped_exporting", identity=self.elector.identity, queued_windows_left=dropped,
                    note="the next leader exports them")

    def _lost_while_stopping(self, holding: asyncio.Future[None]) -> None:
        if not holding.cancelled() and self.live:
            self._suspending = asyncio.ensure_future(self._end_term())

    async def close(self) -> None:
        """After the sinks were flushed: record what they acknowledged and hand the Lease over."""
        if self._holding is not None:
            self._holding.remove_done_callback(self._lost_while_stopping)
            self._holding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._holding
        if self.live:
            if self.acked:
                self.elector.annotate({ACKED_ANNOTATION: self._acked_json()})
            self.live = False
            await self.elector.release()
        selfmetrics.leader.set(0)


def _window_of(label: str | None) -> datetime | None:
    """The window a sink queue item's label names (its ISO timestamp), if it names one."""
    if not label:
        return None
    try:
        return datetime.fromisoformat(label)
    except ValueError:
        return None


def _before_or_at(label: str, bound: datetime) -> bool:
    window = _window_of(label)
    return window is not None and window <= bound
