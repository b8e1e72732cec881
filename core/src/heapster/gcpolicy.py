"""The cyclic garbage collector run by the daemon rarely, at quiet moments, over every generation at once.

Measured with ``bench/query_bench.py`` (500 nodes x 10 s, a gc callback with timestamps and thread CPU time):
with automatic collection at a young threshold of 100 000, a young collection came whenever 100 000 tracked
objects were alive at once, mid-decode or mid-answer, in whichever thread allocated (often the API's own), and
cost 36-102 ms of CPU, several times a minute: the slowest one-series answers were those that overlapped one.
Collected instead from a timer at quiet moments at most every 25 s, a young collection in the daemon at 1000
nodes still cost 100-175 ms of CPU, and a request arriving meanwhile waited for all of it: the young generation
always holds the newest window's tables and the next window's parts in flight, alive, which a young collection
walks only to find them alive (its cost is what is alive, not the garbage: bench/README.md, session 11, gc7).

So while the pipeline runs, automatic collection is off and there are no young collections: :class:`ManagedGc`
collects every generation at once (all but the start-up's frozen state, :func:`heapster.memory.tune_gc`) from a
timer on the daemon's loop, only while no API request is in flight, after a stored batch
(:meth:`ManagedGc.batch_stored`) once :data:`MIN_INTERVAL` has passed since the last collection or the young
count (tracked objects made minus those freed since the last collection: the live ones' growth and the cyclic
garbage) has reached :data:`GROWTH`, and at the latest every :data:`MAX_INTERVAL`. Between two collections the
collector does no work at all; cyclic garbage waits for the next one (at most :data:`MIN_INTERVAL`, or
:data:`GROWTH` objects, after a stored batch; before, what had survived into the oldest generation waited for
the full collection of every hundredth, about 40 minutes). A young count past :data:`YOUNG_LIMIT` is collected
at once, request in flight or not, so a stuck pipeline or an API flood cannot grow garbage without bound.
:meth:`ManagedGc.stop` restores the collector as it was.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)

CHECK_INTERVAL = 0.25
"""Seconds between two looks at the collector on the daemon's loop."""
MIN_INTERVAL = 600.0
"""Seconds between two collections at least (unless the young count reaches :data:`GROWTH`)."""
MAX_INTERVAL = 900.0
"""Seconds after which a collection runs even without a stored batch (e.g. no metric store)."""
GROWTH = 250_000
"""Young count (tracked objects made minus freed since the last collection) at which the next quiet moment after
a stored batch collects, before :data:`MIN_INTERVAL`."""
YOUNG_LIMIT = 1_000_000
"""Young count at which a collection runs at once, request in flight or not."""


class ManagedGc:
    """Automatic collection off while started; full collections at quiet moments (see the module's docstring).

    ``busy`` says whether an API request is in flight (:meth:`heapster.apifirst.ApiFirst.busy`).
    """

    def __init__(self, busy: Callable[[], bool] = lambda: False, *, check_interval: float = CHECK_INTERVAL,
                 min_interval: float = MIN_INTERVAL, max_interval: float = MAX_INTERVAL, growth: int = GROWTH,
                 young_limit: int = YOUNG_LIMIT) -> None:
        self.busy = busy
        self.check_interval = check_interval
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.growth = growth
        self.young_limit = young_limit
        self.collections = 0
        """Collections run."""
        self.seconds = 0.0
        """Seconds spent collecting, summed."""
        self._saved: tuple[bool, tuple[int, ...]] | None = None
        self._due = False
        self._last = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def started(self) -> bool:
        return self._saved is not None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Turn automatic collection off and collect from a timer on ``loop`` (the daemon's)."""
        if self._saved is None:
            self._saved = (gc.isenabled(), gc.get_threshold())
        gc.disable()
        self._loop = loop
        self._last = time.monotonic()
        self._schedule()

    def stop(self) -> None:
        """Stop the timer and restore the collector's state and thresholds as :meth:`start` found them."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._saved is None:
            return
        enabled, thresholds = self._saved
        self._saved = None
        gc.set_threshold(*thresholds)
        if enabled:
            gc.enable()

    def batch_stored(self) -> None:
        """A batch is stored and let go of: a quiet moment to collect at, if one is due (any thread)."""
        self._due = True

    def check(self) -> None:
        """Collect if due and quiet, or at once past the young limit (called by the timer)."""
        if gc.isenabled():  # someone turned it back on (e.g. a pause around a decode that began before start)
            gc.disable()
        young = gc.get_count()[0]
        if young >= self.young_limit:
            self.collect()
            return
        since = time.monotonic() - self._last
        due = (self._due and (since >= self.min_interval or young >= self.growth)) or since >= self.max_interval
        if due and young > 0 and not self.busy():
            self.collect()

    def collect(self) -> int:
        """One collection of every generation now (not the frozen objects); returns the objects it freed."""
        self._due = False
        young = gc.get_count()[0]
        began, cpu = time.perf_counter(), time.thread_time()
        freed = gc.collect()
        took = time.perf_counter() - began
        self.seconds += took
        self.collections += 1
        log.info("gc.collected", young=young, freed=freed, cpu_ms=round((time.thread_time() - cpu) * 1000, 1),
                 seconds_since_last=round(time.monotonic() - self._last, 1))
        self._last = time.monotonic()
        return freed

    def _schedule(self) -> None:
        if self._loop is not None and not self._loop.is_closed() and self._saved is not None:
            self._timer = self._loop.call_later(self.check_interval, self._tick)

    def _tick(self) -> None:
        try:
            self.check()
        except Exception:  # never lose the timer: garbage would pile up
            log.exception("gc.check.failed")
        self._schedule()
