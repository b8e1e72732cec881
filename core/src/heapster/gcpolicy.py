"""The cyclic garbage collector run by the daemon at quiet moments, not by allocation counts.

Measured with ``bench/query_bench.py`` (500 nodes x 10 s, a gc callback with timestamps and thread CPU time):
with automatic collection at a young threshold of 100 000, a young collection came whenever 100 000 tracked
objects were alive at once, mid-decode or mid-answer, in whichever thread allocated (often the API's own), and
cost 36-102 ms of CPU, several times a minute: the slowest one-series answers were those that overlapped one.

So while the pipeline runs, automatic collection is off; :class:`ManagedGc` collects from a timer on the
daemon's loop, only while no API request is in flight: after a stored batch (:meth:`ManagedGc.batch_stored`)
but not within :data:`MIN_INTERVAL` of the last collection, and at the latest every :data:`MAX_INTERVAL`. A
young collection there still costs 12-80 ms of CPU at 500 nodes (what the newest batch left behind, e.g. the
enricher's pod tables, is young and large; the window's key and label lists and the copies kept to the next batch
are untracked, :func:`heapster.release.untrack`), so it runs at most every
:data:`MIN_INTERVAL`: a third as many pauses as one per batch at 10 s, while the cyclic garbage of a few batches
(about a thousand objects each) waits. Each tenth collection includes the middle generation and each hundredth
is a full one (the interpreter's own ratios for thresholds of 10 and 10). A young generation grown past
:data:`YOUNG_LIMIT` is collected at once, so a stuck pipeline or an API flood cannot grow garbage without
bound. :meth:`ManagedGc.stop` restores the collector as it was.
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
MIN_INTERVAL = 25.0
"""Seconds between two collections at least (unless the young generation passes :data:`YOUNG_LIMIT`)."""
MAX_INTERVAL = 60.0
"""Seconds after which young objects are collected even without a stored batch (e.g. no metric store)."""
YOUNG_LIMIT = 1_000_000
"""Tracked young objects alive at which a collection runs at once, request in flight or not."""
MIDDLE_EVERY = 10
"""Every this many collections includes the middle generation."""
FULL_EVERY = 10
"""Every this many collections of the middle generation is a full collection."""


class ManagedGc:
    """Automatic collection off while started; collections at quiet moments (see the module's docstring).

    ``busy`` says whether an API request is in flight (:meth:`heapster.apifirst.ApiFirst.busy`).
    """

    def __init__(self, busy: Callable[[], bool] = lambda: False, *, check_interval: float = CHECK_INTERVAL,
                 min_interval: float = MIN_INTERVAL, max_interval: float = MAX_INTERVAL,
                 young_limit: int = YOUNG_LIMIT) -> None:
        self.busy = busy
        self.check_interval = check_interval
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.young_limit = young_limit
        self.collections = [0, 0, 0]
        """Collections run, by oldest generation collected."""
        self.seconds = 0.0
        """Seconds spent collecting, summed."""
        self._saved: tuple[bool, tuple[int, ...]] | None = None
        self._due = False
        self._last = time.monotonic()
        self._young = 0
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
        """A batch is stored and let go of: collect young objects at the next quiet moment (any thread)."""
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
        due = (self._due and since >= self.min_interval) or since >= self.max_interval
        if due and young > 0 and not self.busy():
            self.collect()

    def collect(self) -> int:
        """One collection now: young, every :data:`MIDDLE_EVERY`-th the middle generation too, and every
        :data:`FULL_EVERY`-th of those all. Returns the generation collected."""
        self._due = False
        self._young += 1
        generation = 0
        if self._young % MIDDLE_EVERY == 0:
            generation = 2 if (self._young // MIDDLE_EVERY) % FULL_EVERY == 0 else 1
        began = time.perf_counter()
        gc.collect(generation)
        self.seconds += time.perf_counter() - began
        self.collections[generation] += 1
        self._last = time.monotonic()
        return generation

    def _schedule(self) -> None:
        if self._loop is not None and not self._loop.is_closed() and self._saved is not None:
            self._timer = self._loop.call_later(self.check_interval, self._tick)

    def _tick(self) -> None:
        try:
            self.check()
        except Exception:  # never lose the timer: garbage would pile up
            log.exception("gc.check.failed")
        self._schedule()
