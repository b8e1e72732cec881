"""Timeouts for many tasks with one timer per short span of deadlines.

``asyncio.timeout`` schedules a timer per use (a ``TimerHandle`` pushed on the loop's heap, compared in Python)
and cancels it on exit; the cancelled handle stays in the heap until the loop pops it. The scrape path takes two
per node and window (the scheduler's node timeout and the kubelet client's request timeout), thousands of them
begun within a few seconds. :class:`SharedTimeouts` rounds each deadline up to a multiple of its granularity and
keeps one timer per rounded deadline, left to fire even when every use has left (it then finds nothing to do):
a use costs a dictionary entry, and a timeout fires at most one granularity late (never early; one of no
time at once). Expiry behaves as
``asyncio.timeout``'s: the task is cancelled, and the ``CancelledError`` becomes a ``TimeoutError`` at the
context's exit unless the task was also cancelled for another reason.
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType

GRANULARITY = 0.05
"""Seconds between the deadlines that get a timer of their own: a timeout fires at most this much late."""


class SharedTimeout:
    """One use of :meth:`SharedTimeouts.timeout`: ``async with shared.timeout(delay):``."""

    __slots__ = ("_cancelling", "_delay", "_owner", "_uses", "expired")

    def __init__(self, owner: SharedTimeouts, delay: float | None) -> None:
        self._owner = owner
        self._delay = delay
        self._uses: dict[SharedTimeout, asyncio.Task[object]] | None = None
        self._cancelling = 0
        self.expired = False
        """Whether the timeout ran out (its task was cancelled for it)."""

    async def __aenter__(self) -> SharedTimeout:
        if self._delay is not None:
            task = asyncio.current_task()
            if task is None:
                raise RuntimeError("a timeout must be used inside a task")
            self._cancelling = task.cancelling()
            self._uses = self._owner._join(self, task, self._delay)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        uses, self._uses = self._uses, None
        if uses is None or uses.pop(self, None) is not None or not self.expired:
            return  # no timeout, or left in time (still among its deadline's uses)
        task = asyncio.current_task()
        assert task is not None
        if task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc


class SharedTimeouts:
    """``asyncio.timeout``\\ s on one event loop, one timer per :data:`GRANULARITY` of deadlines."""

    def __init__(self, granularity: float = GRANULARITY) -> None:
        self.granularity = granularity
        self._deadlines: dict[float, dict[SharedTimeout, asyncio.Task[object]]] = {}

    def timeout(self, delay: float | None) -> SharedTimeout:
        """A context that cancels the current task after ``delay`` seconds (up to one granularity more) and then
        raises ``TimeoutError``; ``None``: no timeout."""
        return SharedTimeout(self, delay)

    def timers(self) -> int:
        """Timers scheduled and not fired yet."""
        return len(self._deadlines)

    def _join(self, timeout: SharedTimeout, task: asyncio.Task[object],
              delay: float) -> dict[SharedTimeout, asyncio.Task[object]]:
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        if delay > 0:  # none: at once, as asyncio's
            when = math.ceil(when / self.granularity) * self.granularity
        uses = self._deadlines.get(when)
        if uses is None:
            uses = self._deadlines[when] = {}
            loop.call_at(when, self._expire, when)
        uses[timeout] = task
        return uses

    def _expire(self, when: float) -> None:
        uses = self._deadlines.pop(when, {})
        while uses:  # each use taken out first: its exit then knows the timer cut it
            timeout, task = uses.popitem()
            timeout.expired = True
            task.cancel()
