"""The metric store's lock: queries first, the writer in short steps between them.

A plain lock is not fair: a writer that releases it at the end of one step and takes it again for the next
one a microsecond later nearly always wins against a query thread that was waiting (the waiter must first be
woken by the OS and get the GIL). Measured in ``bench/store_lock_bench.py`` at 1000 nodes: every writer step
under 8 ms of CPU, yet a one-series query waited up to 188 ms, through many steps in a row. Here the writer
asks for its turn before each step (:meth:`StoreLock.step`) and lets every waiting query have the lock first.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

WRITER_PATIENCE = 0.5
"""Seconds the writer waits at most for the queries waiting before its step (they then share the lock as a
plain lock would): a stream of queries never stops the writer."""


class StoreLock:
    """A re-entrant lock whose queries (:meth:`acquire`, ``with lock:``) go before the writer's steps."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._state = threading.Condition(threading.Lock())
        self._waiting = 0
        """Queries waiting to acquire the lock."""

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock for a query (re-entrant); counted as waiting, so the writer lets it go first."""
        if self._lock.acquire(blocking=False):
            return True
        if not blocking:
            return False
        with self._state:
            self._waiting += 1
        try:
            return self._lock.acquire(True, timeout)
        finally:
            with self._state:
                self._waiting -= 1
                if not self._waiting:
                    self._state.notify_all()

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    @contextmanager
    def step(self) -> Iterator[None]:
        """Hold the lock for one step of the writer, after the queries waiting for it (at most
        :data:`WRITER_PATIENCE` seconds of waiting)."""
        if self._waiting:
            with self._state:
                self._state.wait_for(lambda: not self._waiting, WRITER_PATIENCE)
        with self._lock:
            yield
