"""The HTTP API before the pipeline: pipeline threads pause between two steps while a young request is answered.

Python runs one thread at a time (the GIL). With the scrape loop, the daemon's loop and the store's writer
all runnable, the API's thread got about one switch interval in four, and a one-series answer of a few
milliseconds of CPU took several times that. The pipeline's threads call :meth:`ApiFirst.wait` at safe
points (between two steps of a store write, every :data:`CHECK_INTERVAL` on an event loop while a request is
in flight): while a request younger than :data:`PRIORITY_SPAN` is in flight they sleep, so the API has the
interpreter. After that span a request shares the interpreter again, so a long list never holds the pipeline
for more than the span; and a thread that paused runs at least a span before it pauses again, so a stream of
requests takes at most half of the pipeline's time.

The checks on the event loops run only while a request is in flight: a request's start wakes each pipeline
loop (``call_soon_threadsafe``), which then checks every :data:`CHECK_INTERVAL` until no request is left. A
check every 2 ms whatever happened cost each loop about 22 ms of CPU per second even when idle, more on the
busy scrape loop: 0.45 s of a 10 s cycle for the two loops of an idle daemon, 0.4-0.5 s of the 1.0 s a cycle
cost at 300 nodes (``bench/thread_cpu_bench.py``).

The API's loop marks its own activity as well (:meth:`ApiFirst.event_loop`): from an I/O event (a connection, a
request's bytes) until it has nothing left to do, it counts as a request in flight. The middleware alone marked a
request only once aiohttp had accepted the connection, read and parsed the head and started the handler's task
(several loop iterations, half of a one-series request's CPU), and unmarked it before the response's write and the
connection's close: the pipeline ran meanwhile, and the API thread waited for the interpreter each time it let
it go.
"""

from __future__ import annotations

import asyncio
import itertools
import selectors
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
        self._loops: dict[asyncio.AbstractEventLoop, bool] = {}
        """Pipeline loops (:meth:`pause_loop`), each with whether its checks are running (under ``_changed``)."""

    def begin(self) -> int:
        """A request starts; returns its token for :meth:`end`."""
        token = next(self._tokens)
        with self._changed:
            self._started[token] = time.monotonic()
            for loop in [loop for loop in self._loops if loop.is_closed()]:
                del self._loops[loop]  # no pipeline to pause there any more
            idle = [loop for loop, checking in self._loops.items() if not checking]
            for loop in idle:
                self._loops[loop] = True
        for loop in idle:
            self._check_soon(loop)
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

    def event_loop(self) -> asyncio.AbstractEventLoop:
        """A new event loop for the API whose I/O marks a request in flight until the loop is idle again
        (:class:`ActiveSelector`)."""
        return asyncio.SelectorEventLoop(ActiveSelector(self))

    def pause_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make ``loop`` (a pipeline loop) call :meth:`wait` every :data:`CHECK_INTERVAL`, from its own thread,
        while a request is in flight."""
        with self._changed:
            if loop in self._loops:
                return
            self._loops[loop] = checking = bool(self._started)
        if checking:
            self._check_soon(loop)

    def _check_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        def check() -> None:
            self.wait()
            with self._changed:
                again = bool(self._started) and not loop.is_closed()
                self._loops[loop] = again
            if again:
                loop.call_later(CHECK_INTERVAL, check)

        try:
            loop.call_soon_threadsafe(check)
        except RuntimeError:  # the loop is closed: no pipeline to pause there any more
            with self._changed:
                self._loops.pop(loop, None)


class ActiveSelector(selectors.DefaultSelector):
    """An event loop's selector that holds a request of ``first`` in flight from each I/O event it returns until
    the loop would wait with nothing to do (a timeout other than 0: no callback left to run, and no event ready).
    Timers alone mark nothing.

    Ready events are looked for before the mark ends: a request's bytes that came while its connection was being
    accepted keep the mark (a pipeline thread that paused runs a span before it pauses again, so ending the mark
    between the two would let it run through the request's handler)."""

    def __init__(self, first: ApiFirst) -> None:
        super().__init__()
        self._first = first
        self._token: int | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if self._token is not None and (timeout is None or timeout > 0):
            ready = super().select(0)
            if ready:
                return ready
            self._first.end(self._token)
            self._token = None
        ready = super().select(timeout)
        if ready and self._token is None:
            self._token = self._first.begin()
        return ready

    def close(self) -> None:
        if self._token is not None:
            self._first.end(self._token)
            self._token = None
        super().close()


API_FIRST = ApiFirst()
"""The process's one: the daemon's API registers its requests, its pipeline pauses for them."""
