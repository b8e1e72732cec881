"""A bounded queue in front of each sink: retries with backoff, drops the oldest when full, flushes on close.

A slow or failing sink only ever fills its own queue; scraping and the other sinks go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import structlog
from tenacity import AsyncRetrying, retry_if_exception, stop_never, wait_exponential, wait_random

from heapster import selfmetrics
from heapster.errors import PermanentError, RetryableError
from heapster.interfaces import Clock, SystemClock

log = structlog.get_logger("heapster.sinkqueue")

T = TypeVar("T")

DEFAULT_CAPACITY = 15
"""Batches held per sink: 15 minutes of outage at the default 60 s resolution."""


def is_retryable(exc: BaseException) -> bool:
    """Whether an export error is worth retrying: the sink said so, it timed out, or the network failed."""
    return isinstance(exc, RetryableError | TimeoutError | ConnectionError | OSError)


class SinkQueue(Generic[T]):
    """Feeds one sink from a bounded queue in its own task.

    ``export`` is the sink's export coroutine function; ``start`` (optional) connects it
    and is retried like an export. ``put`` never blocks: when the queue is full the oldest
    waiting item is dropped and counted.
    """

    def __init__(
        self,
        name: str,
        export: Callable[[T], Awaitable[None]],
        *,
        start: Callable[[], Awaitable[None]] | None = None,
        close: Callable[[], Awaitable[None]] | None = None,
        capacity: int = DEFAULT_CAPACITY,
        export_timeout: float = 20.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        if capacity < 1:
            msg = "sink queue capacity must be at least 1"
            raise ValueError(msg)
        self.name = name
        self._export = export
        self._start = start
        self._close = close
        self.capacity = capacity
        self.export_timeout = export_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.clock = clock or SystemClock()
        self._pending: deque[T] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.exported = 0
        self.dropped_overflow = 0
        self.dropped_permanent = 0
        self.retries = 0
        self._depth = selfmetrics.sink_queue_depth.labels(sink=name)

    # --- producer side -------------------------------------------------------------------
    def put(self, item: T) -> None:
        """Queue one item for export; drops (and counts) the oldest waiting item if full."""
        if self._closing:
            self._count_drop("shutdown")
            return
        if len(self._pending) >= self.capacity:
            self._pending.popleft()
            self.dropped_overflow += 1
            self._count_drop("overflow")
            log.warning("sink.queue.overflow", sink=self.name, capacity=self.capacity)
        self._pending.append(item)
        self._idle.clear()
        self._depth.set(len(self._pending))
        self._wakeup.set()
        if self._task is None:
            self.start()

    @property
    def depth(self) -> int:
        """Items waiting (not counting one being exported)."""
        return len(self._pending)

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker task (done automatically on the first ``put``)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"sink:{self.name}")

    async def close(self, timeout: float = 60.0) -> None:
        """Stop accepting items, export what is queued within ``timeout`` seconds, then close the sink."""
        self._closing = True
        if self._task is not None:
            try:
                await asyncio.wait_for(self._idle.wait(), timeout)
            except TimeoutError:
                log.warning("sink.flush.timeout", sink=self.name, left=len(self._pending) + 1)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            for _ in range(len(self._pending) + (0 if self._idle.is_set() else 1)):
                self._count_drop("shutdown")
            self._pending.clear()
            self._depth.set(0)
        if self._close is not None:
            try:
                await asyncio.wait_for(self._close(), timeout)
            except Exception as exc:
                log.warning("sink.close.failed", sink=self.name, error=str(exc))

    async def drained(self) -> None:
        """Wait until every queued item has been exported or dropped."""
        await self._idle.wait()

    # --- worker --------------------------------------------------------------------------------
    async def _run(self) -> None:
        if self._start is not None:
            await self._start_until_it_works(self._start)
        while True:
            if not self._pending:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            item = self._pending.popleft()
            self._depth.set(len(self._pending))
            await self._deliver(item)
            if not self._pending:
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
                log.error("sink.start.failed", sink=self.name, error=str(exc), retry_in=self.backoff_max)
                await self.clock.sleep(self.backoff_max)

    async def _deliver(self, item: T) -> None:
        started = time.perf_counter()
        try:
            await self._with_retries(lambda: self._export(item), "export")
        except PermanentError as exc:
            self.dropped_permanent += 1
            self._count_drop("permanent")
            selfmetrics.sink_dropped_items.labels(sink=self.name).inc(exc.dropped)
            log.error("sink.export.dropped", sink=self.name, error=str(exc), dropped=exc.dropped)
            return
        except Exception as exc:  # a bug in a sink must not kill its queue
            self.dropped_permanent += 1
            self._count_drop("error")
            log.exception("sink.export.crashed", sink=self.name, error=str(exc))
            return
        self.exported += 1
        selfmetrics.sink_exported_batches.labels(sink=self.name).inc()
        selfmetrics.exporter_duration.labels(exporter=self.name).observe((time.perf_counter() - started) * 1000)
        selfmetrics.exporter_last_time.labels(exporter=self.name).set(int(self.clock.now()))

    async def _with_retries(self, call: Callable[[], Awaitable[None]], what: str) -> None:
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_retryable),
            wait=wait_exponential(multiplier=self.backoff_initial, max=self.backoff_max)
            + wait_random(0, self.backoff_initial / 2),
            stop=stop_never,
            sleep=self.clock.sleep,
            reraise=True,
            before_sleep=self._before_retry(what),
        )
        async for attempt in retrying:
            with attempt:
                await asyncio.wait_for(call(), self.export_timeout)

    def _before_retry(self, what: str) -> Callable[[object], None]:
        def before_sleep(state: object) -> None:
            self.retries += 1
            selfmetrics.sink_retries.labels(sink=self.name).inc()
            outcome = getattr(state, "outcome", None)
            error = outcome.exception() if outcome is not None else None
            attempt = getattr(state, "attempt_number", 0)
            # Log the first failure and then every tenth, so an outage is visible but not noisy.
            if attempt == 1 or attempt % 10 == 0:
                log.warning(f"sink.{what}.retry", sink=self.name, attempt=attempt, error=str(error))

        return before_sleep

    def _count_drop(self, reason: str) -> None:
        selfmetrics.sink_dropped_batches.labels(sink=self.name, reason=reason).inc()
