"""The HTTP API before the pipeline: pipeline threads pause between two steps while a young request is answered.

Python runs one thread at a time (the GIL). With the scrape loop, the daemon's loop and the store's writer
all runnable, the API's thread got about one switch interval in four, and a one-series answer of a few
milliseconds of CPU took several times that. The pipeline's threads call :meth:`ApiFirst.wait` at safe
points (between two steps of a store write, every :data:`CHECK_INTERVAL` on an event loop): while a request
younger than :data:`PRIORITY_SPAN` is in flight they sleep, so the API has the interpreter. After that span
a request shares the interpreter again, so a long list never holds the pipeline for more than the span; and
a thread that paused runs at least a span before it pauses again, so a stream of requests takes at most
half of the pipeline's time.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

PRIORITY_SPAN = 0.025
"""Seconds a request keeps the pipeline paused at most (a one-series answer takes a few milliseconds)."""
CHECK_INTERVAL = 0.002
"""Seconds between two checks on a pipeline event loop (a check costs a few microseconds)."""


class ApiFirst:
    """Requests in flight (registered by :meth:`middleware`) and the pause the pipeline takes for them."""

    def __init__(self, span: float = PRIORITY_SPAN) -> None:
        self.span = span
        self._started: dict[int, float] = {}
        self._changed = threading.Condition()
        self._tokens = itertools.count()
        self._resumed = threading.local()
        self.paused = 0.0
        """Seconds the pipeline's threads spent paused, summed (for benchmarks and tests)."""
        self.waiting = 0
        """Pipeline threads paused now."""

    def begin(self) -> int:
        """A request starts; returns its token for :meth:`end`."""
        token = next(self._tokens)
        with self._changed:
            self._started[token] = time.monotonic()
        return token

    def end(self, token: int) -> None:
        """A request is answered."""
        with self._changed:
            self._started.pop(token, None)
            self._changed.notify_all()

    def busy(self) -> bool:
        """Whether a request is in flight (e.g. to put off a garbage collection)."""
        return bool(self._started)

    def wait(self) -> None:
        """Sleep while a request younger than the span is in flight (returns at once when none is)."""
        if not self._started:  # the usual case: no lock taken
            return
        began = time.monotonic()
        if began - getattr(self._resumed, "at", -self.span) < self.span:
            return  # this thread paused a moment ago: its turn
        waited = False
        with self._changed:
            while self._started:
                remaining = max(self._started.values()) + self.span - time.monotonic()
                if remaining <= 0:
                    break
                self.waiting += 1
                self._changed.wait(remaining)
                self.waiting -= 1
                waited = True
            if waited:
                resumed = time.monotonic()
                self.paused += resumed - began
                self._resumed.at = resumed

    def middleware(self) -> Middleware:
        """Registers each request of an application while it is answered."""

        @web.middleware
        async def first(request: web.Request, handler: Handler) -> web.StreamResponse:
            token = self.begin()
            try:
                return await handler(request)
            finally:
                self.end(token)

        return first

    def pause_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make ``loop`` (a pipeline loop) call :meth:`wait` every :data:`CHECK_INTERVAL`, from its own thread."""

        def check() -> None:
            self.wait()
            if not loop.is_closed():
                loop.call_later(CHECK_INTERVAL, check)

        loop.call_soon_threadsafe(check)


API_FIRST = ApiFirst()
"""The process's one: the daemon's API registers its requests, its pipeline pauses for them."""
