"""A bounded queue in front of each sink: retries with backoff, drops the oldest when full, flushes on close.

A slow or failing sink only ever fills its own queue; scraping and the other sinks go on. The
items live in a :mod:`heapster.queuestore` store: in memory by default, or on disk (SQLite) so
that a restart during an outage loses nothing: the next process replays them in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

import structlog
from tenacity import AsyncRetrying, retry_if_exception, stop_never, wait_exponential, wait_random

from heapster import selfmetrics
from heapster.aio import unless_set
from heapster.errors import PermanentError, RetryableError
from heapster.interfaces import Clock, SystemClock
from heapster.queuestore import Entry, MemoryStore, QueueStore, UndecodableEntry, store_errors

log = structlog.get_logger("heapster.sinkqueue")

T = TypeVar("T")

DEFAULT_CAPACITY = 15
"""Batches held per sink: 15 minutes of outage at the default 60 s resolution."""


def is_retryable(exc: BaseException) -> bool:
    """Whether an export error is worth retrying: the sink said so, it timed out, or the network failed."""
    return isinstance(exc, RetryableError | TimeoutError | ConnectionError | OSError)


class _Expired(Exception):
    """The item being retried grew older than the queue's ``max_age``."""


class SinkQueue(Generic[T]):
    """Feeds one sink from a bounded queue in its own task.

    ``export`` is the sink's export coroutine function; ``start`` (optional) connects it
    and is retried like an export. ``put`` never blocks: when the queue is full (``capacity``
    items waiting, or ``max_bytes`` stored) the oldest waiting item is dropped and counted, and
    items older than ``max_age`` seconds are dropped as well. ``store`` holds the items (memory
    unless given); ``describe`` gives the log fields of an item, its ``window`` naming it in
    overflow and export lines; ``on_exported`` is called with each item the sink acknowledged.
    ``export_timeout`` None: the sink's export is never cut (a write that always ends, such as the in-memory store's
    in a worker thread, which a timeout would not stop but only make the retry write it again).
    """

    def __init__(
        self,
        name: str,
        export: Callable[[T], Awaitable[None]],
        *,
        start: Callable[[], Awaitable[None]] | None = None,
        close: Callable[[], Awaitable[None]] | None = None,
        capacity: int = DEFAULT_CAPACITY,
        export_timeout: float | None = 20.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        clock: Clock | None = None,
        store: QueueStore[T] | None = None,
        max_bytes: int | None = None,
        max_age: float | None = None,
        describe: Callable[[T], Mapping[str, Any]] | None = None,
        on_exported: Callable[[T], None] | None = None,
    ) -> None:
        if capacity < 1:
            msg = "sink queue capacity must be at least 1"
            raise ValueError(msg)
        self.name = name
        self._export = export
        self._start = start
        self._close = close
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.export_timeout = export_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.clock = clock or SystemClock()
        self._store: QueueStore[T] = store if store is not None else MemoryStore()
        self._describe = describe or (lambda _item: {})
        self._on_exported = on_exported
        self._connected = False
        self._in_flight: Entry | None = None
        self._wakeup = asyncio.Event()
        self._retry_now = asyncio.Event()
        self._idle = asyncio.Event()
        if not self._store:
            self._idle.set()
        self._closing = False
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._failing_since: float | None = None
        self._kept_from_before = len(self._store)
        """Items a durable store held when opened: the last run's, replayed first."""
        self.exported = 0
        self.dropped_overflow = 0
        self.dropped_expired = 0
        self.dropped_permanent = 0
        self.retries = 0
        self._depth = selfmetrics.sink_queue_depth.labels(sink=name)
        self._depth.set(self.depth)

    # --- producer side -------------------------------------------------------------------
    def put(self, item: T) -> None:
        """Queue one item for export; drops (and counts) the oldest waiting items if full or too old."""
        fields = self._describe(item)
        if self._closing:
            self._count_drop("shutdown")
            log.warning("sink.queue.closed", sink=self.name, dropped=1, reason="shutdown", **fields)
            return
        now = self.clock.now()
        self._drop_expired(now)
        while self.depth >= self.capacity and self._drop_oldest_waiting("overflow", f"{self.capacity} batches"):
            pass
        try:
            entry = self._store.append(item, str(fields.get("window", "")), now)
        except store_errors() as exc:  # a full or broken disk costs this item, not the daemon
            self._count_drop("store_error")
            log.error("sink.queue.store_failed", sink=self.name, queue=self._store.description, error=str(exc),
                      **fields)
            return
        if self.max_bytes is not None:
            while self._store.bytes > self.max_bytes and self._drop_oldest_waiting(
                    "overflow", f"{self.max_bytes} bytes", keep=entry.id):
                pass
        self._idle.clear()
        self._depth.set(self.depth)
        self._wakeup.set()
        self._retry_now.set()  # a new batch is a good moment to try a failing sink again
        if self._task is None:
            self.start()

    @property
    def depth(self) -> int:
        """Items waiting (not counting one being exported)."""
        return len(self._store) - (1 if self._in_flight is not None else 0)

    @property
    def durable(self) -> bool:
        """Whether the queued items survive a restart."""
        return self._store.durable

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker task (done automatically on the first ``put``); replays what a durable store holds."""
        if self._task is not None:
            return
        if self._kept_from_before:
            first = self._store.oldest()
            log.info("sink.queue.replaying", sink=self.name, batches=len(self._store), bytes=self._store.bytes,
                     oldest=first.label if first else None, queue=self._store.description)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"sink:{self.name}")

    async def close(self, timeout: float = 60.0) -> None:
        """Stop accepting items, export what is queued within ``timeout`` seconds, then close the sink.

        A worker waiting out a backoff is woken to retry at once. What is still queued at the
        deadline stays on disk for the next start (durable store) or is dropped and counted.
        """
        self._closing = True
        self._retry_now.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout)
            await self._stop_worker(self._task)
        left = len(self._store)
        if left:
            oldest = self._store.oldest()
            if self._store.durable:
                log.warning("sink.flush.incomplete", sink=self.name, kept=left, oldest=oldest.label if oldest else None,
                            queue=self._store.description, note="exported after the next start")
            else:
                self._count_drop("shutdown", left)
                log.warning("sink.flush.incomplete", sink=self.name, dropped=left, reason="shutdown",
                            oldest=oldest.label if oldest else None)
                while (entry := self._store.oldest()) is not None:
                    self._store.remove(entry.id)
        self._depth.set(0)
        self._store.close()
        if self._close is not None:
            try:
                await asyncio.wait_for(self._close(), timeout)
            except Exception as exc:
                log.warning("sink.close.failed", sink=self.name, error=self._error_text(exc))

    async def _stop_worker(self, task: asyncio.Task[None]) -> None:
        """Cancel the worker and wait until it has ended (a cancel can be lost in a sink's own code)."""
        self._stopping = True
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.05)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def suspend(self) -> int:
        """Stop exporting at once and forget what waits (a replica that lost leadership); returns how many.

        An export in flight is cancelled. The next ``put`` starts the worker again (without
        connecting the sink a second time).
        """
        if self._task is not None:
            await self._stop_worker(self._task)
            self._task = None
            self._stopping = False
        self._in_flight = None
        self._kept_from_before = 0
        forgotten = 0
        while (entry := self._store.oldest()) is not None:
            self._store.remove(entry.id)
            forgotten += 1
        self._idle.set()
        self._depth.set(0)
        return forgotten

    def forget_waiting_through(self, done: Callable[[str], bool]) -> int:
        """Drop the oldest waiting items while ``done(label)`` (another exporter delivered them); returns how many."""
        skip = self._in_flight.id if self._in_flight is not None else None
        forgotten = 0
        while (entry := self._store.oldest(skip)) is not None and done(entry.label):
            self._store.remove(entry.id)
            forgotten += 1
        self._kept_from_before = min(self._kept_from_before, len(self._store))
        self._depth.set(self.depth)
        if not self._store:
            self._idle.set()
        return forgotten

    def newest_label(self) -> str | None:
        """The label (window) of the newest item held, if any."""
        try:
            entry = self._store.newest()
        except UndecodableEntry as exc:
            entry = exc.entry
        return entry.label if entry is not None else None

    async def drained(self) -> None:
        """Wait until every queued item has been exported or dropped."""
        await self._idle.wait()

    # --- bounds ------------------------------------------------------------------------------
    def _drop_oldest_waiting(self, reason: str, bound: str, keep: int | None = None) -> bool:
        """Drop the oldest item not being exported (nor ``keep``); False if there is none."""
        skip = self._in_flight.id if self._in_flight is not None else None
        entry = self._store.oldest(skip)
        if entry is None or entry.id == keep:
            return False
        self._store.remove(entry.id)
        self.dropped_overflow += 1
        self._count_drop(reason)
        log.warning("sink.queue.overflow", sink=self.name, dropped_window=entry.label, bound=bound)
        return True

    def _is_expired(self, entry: Entry, now: float) -> bool:
        return self.max_age is not None and now - entry.queued_at > self.max_age

    def _drop_expired(self, now: float) -> None:
        skip = self._in_flight.id if self._in_flight is not None else None
        while (entry := self._store.oldest(skip)) is not None and self._is_expired(entry, now):
            self._store.remove(entry.id)
            self._drop_aged(entry)

    def _drop_aged(self, entry: Entry) -> None:
        self.dropped_expired += 1
        self._count_drop("age")
        log.warning("sink.queue.expired", sink=self.name, dropped_window=entry.label, max_age=self.max_age)

    # --- worker --------------------------------------------------------------------------------
    async def _run(self) -> None:
        if self._start is not None and not self._connected:
            await self._start_until_it_works(self._start)
        self._connected = True
        while True:
            try:
                entry = self._store.head()
            except UndecodableEntry as exc:
                self._store.remove(exc.entry.id)
                self._count_drop("undecodable")
                log.error("sink.queue.undecodable", sink=self.name, dropped_window=exc.entry.label, error=str(exc))
                continue
            if entry is None:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._is_expired(entry, self.clock.now()):
                self._store.remove(entry.id)
                self._drop_aged(entry)
                continue
            self._in_flight = entry
            self._depth.set(self.depth)
            await self._deliver(entry)
            self._in_flight = None
            self._store.remove(entry.id)
            self._depth.set(self.depth)
            if not self._store:
                self._idle.set()

    async def _start_until_it_works(self, start: Callable[[], Awaitable[None]]) -> None:
        """Connect the sink; even a non-retryable start error (bad credentials) is retried slowly,
        since it can be fixed outside heapster, and meanwhile batches queue and overflow is counted."""
        while True:
            try:
                await self._with_retries(start, "start")
                return
            except Exception as exc:
                selfmetrics.sink_start_failures.labels(sink=self.name).inc()
                self._failing_since = self._failing_since or self.clock.now()
                log.error("sink.start.failed", sink=self.name, error=self._error_text(exc), retry_in=self.backoff_max)
                await self._pause(self.backoff_max)

    async def _deliver(self, entry: Entry) -> None:
        item: T = entry.item
        fields = self._describe(item)
        started = time.perf_counter()
        try:
            await self._with_retries(lambda: self._export(item), "export")
        except _Expired:
            self._drop_aged(entry)
            return
        except PermanentError as exc:
            self.dropped_permanent += 1
            self._count_drop("permanent")
            selfmetrics.sink_dropped_items.labels(sink=self.name).inc(exc.dropped)
            log.error("sink.export.dropped", sink=self.name, error=str(exc), dropped=exc.dropped, **fields)
            return
        except Exception as exc:  # a bug in a sink must not kill its queue
            self.dropped_permanent += 1
            self._count_drop("error")
            log.exception("sink.export.crashed", sink=self.name, error=self._error_text(exc), **fields)
            return
        self.exported += 1
        selfmetrics.sink_exported_batches.labels(sink=self.name).inc()
        selfmetrics.exporter_duration.labels(exporter=self.name).observe((time.perf_counter() - started) * 1000)
        selfmetrics.exporter_last_time.labels(exporter=self.name).set(int(self.clock.now()))
        log.info("batch.exported", sink=self.name, **fields)
        if self._on_exported is not None:
            self._on_exported(item)

    async def _with_retries(self, call: Callable[[], Awaitable[None]], what: str) -> None:
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_retryable),
            wait=wait_exponential(multiplier=self.backoff_initial, max=self.backoff_max)
            + wait_random(0, self.backoff_initial / 2),
            stop=stop_never,
            sleep=self._pause,
            reraise=True,
            before_sleep=self._before_retry(what),
        )
        async for attempt in retrying:
            with attempt:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for loses a cancel that arrives as
                # the call fails, and the worker would go on retrying after close() gave up.
                async with asyncio.timeout(self.export_timeout):
                    await call()
        if self._failing_since is not None:
            log.info("sink.recovered", sink=self.name, down_for=round(self.clock.now() - self._failing_since, 1),
                     backlog=self.depth)
            self._failing_since = None

    async def _pause(self, seconds: float) -> None:
        """Wait out a backoff; cut short by a new item or by ``close`` (which also caps it to the first step).

        Raises :class:`_Expired` when the item being exported is past ``max_age``.
        """
        if self._stopping:
            raise asyncio.CancelledError
        if self._closing:
            seconds = min(seconds, self.backoff_initial)
        self._retry_now.clear()
        await unless_set(self.clock.sleep(seconds), self._retry_now)
        if self._in_flight is not None and self._is_expired(self._in_flight, self.clock.now()):
            raise _Expired

    def _before_retry(self, what: str) -> Callable[[object], None]:
        def before_sleep(state: object) -> None:
            self.retries += 1
            selfmetrics.sink_retries.labels(sink=self.name).inc()
            if self._failing_since is None:
                self._failing_since = self.clock.now()
            outcome = getattr(state, "outcome", None)
            error = outcome.exception() if outcome is not None else None
            attempt = getattr(state, "attempt_number", 0)
            # Log the first failure and then every tenth, so an outage is visible but not noisy.
            if attempt == 1 or attempt % 10 == 0:
                window = self._in_flight.label if self._in_flight is not None and what == "export" else None
                log.warning(f"sink.{what}.retry", sink=self.name, attempt=attempt, window=window,
                            error=self._error_text(error), backlog=self.depth)

        return before_sleep

    def _error_text(self, error: BaseException | None) -> str:
        """A readable error: never empty (a timeout's ``str`` is)."""
        if error is None:
            return "unknown error"
        if isinstance(error, TimeoutError) and not str(error) and self.export_timeout is not None:
            return f"no answer within {self.export_timeout:g}s"
        return str(error) or type(error).__name__

    def _count_drop(self, reason: str, count: int = 1) -> None:
        selfmetrics.sink_dropped_batches.labels(sink=self.name, reason=reason).inc(count)
