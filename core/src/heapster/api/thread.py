"""The HTTP API on an event loop in a thread of its own, so no pipeline step delays an answer.

On the daemon's loop a query waited behind whatever ran there: a store write, the processors, the sinks'
encoding, an informer's relist (measured: a one-series query's p99 at hundreds of milliseconds). On its own
loop it only shares the interpreter, by the GIL's switch interval (:func:`heapster.memory.share_the_interpreter`).
What the routes read must then be safe from another thread: the metric store is (its lock), informer state is
read by whole-collection copies. What belongs to the daemon's loop (the historical source's HTTP client, the
shard coordinator's partials) is reached through :func:`on_loop`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from heapster.api.instrument import Handler
from heapster.api.listen import start_api_server
from heapster.apifirst import ApiFirst
from heapster.scrapeloop import ScrapeLoop
from heapster.settings import HeapsterSettings
from heapster.store import MetricStore


class ApiThread:
    """A daemon thread running the API's event loop; :meth:`serve` starts an application there.

    With ``first`` (the daemon's :data:`heapster.apifirst.API_FIRST`) the loop's I/O marks a request in flight
    until the loop is idle (:meth:`heapster.apifirst.ApiFirst.event_loop`), so the pipeline pauses for the whole
    request, its accept, read and close included; not with uvloop (``HEAPSTER_UVLOOP=1``), whose loop has no
    selector to watch: there the middleware's marks alone.
    """

    def __init__(self, name: str = "heapster-api", first: ApiFirst | None = None) -> None:
        from heapster.cli import event_loop_factory

        factory = first.event_loop if first is not None and event_loop_factory() is None else None
        self._loop = ScrapeLoop(name, factory)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop.loop

    async def serve(self, app: web.Application, settings: HeapsterSettings | Mapping[str, Any]) -> web.AppRunner:
        """Listen with ``app`` on the API's loop (as :func:`heapster.api.listen.start_api_server`)."""
        return await self._loop.run(start_api_server(app, settings))

    async def close(self, runner: web.AppRunner | None) -> None:
        """Stop serving (``runner`` from :meth:`serve`, if any) and end the thread."""
        try:
            if runner is not None:
                await self._loop.run(runner.cleanup())
        finally:
            await asyncio.to_thread(self._loop.close)


def on_loop(loop: asyncio.AbstractEventLoop, handler: Handler) -> Handler:
    """``handler`` run on ``loop`` (where the clients and events it uses live) when called from another loop.

    Only for handlers that read the request's URL and headers and return a response (no body read, no
    streaming): the request and the response stay with the API's loop.
    """

    async def elsewhere(request: web.Request) -> web.StreamResponse:
        if asyncio.get_running_loop() is loop:
            return await handler(request)
        async def there() -> web.StreamResponse:
            return await handler(request)

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(there(), loop))

    return elsewhere


def on_loop_middleware(loop: asyncio.AbstractEventLoop) -> Middleware:
    """A middleware running every handler of an application (e.g. a sub-application) with :func:`on_loop`."""

    @web.middleware
    async def elsewhere(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await on_loop(loop, handler)(request)

    return elsewhere


def consistent(store: MetricStore, handler: Handler) -> Handler:
    """``handler`` holding the store's lock for its whole answer: the several queries of one answer (the
    newest timestamp, then the keys, then their values) all see the same windows, whatever thread writes.

    Only for handlers that compute their answer without awaiting anything (the writer waits meanwhile).
    """

    async def locked(request: web.Request) -> web.StreamResponse:
        with store.reading():
            return await handler(request)

    return locked
