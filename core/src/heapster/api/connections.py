"""Connection hygiene of the HTTP API: deadlines for a request head and quiet logging of bad requests.

aiohttp's server closes a keep-alive connection that stays idle (or holds an incomplete next
request) for ``keepalive_timeout`` after a response, but before aiohttp 3.14 a connection that
never completes its first request head was kept forever. :class:`FirstRequestDeadline` closes
those; ``keepalive_timeout`` (set from ``--api_idle_timeout``) covers the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from heapster.api.instrument import Handler

log = structlog.get_logger("heapster.api")


class FirstRequestDeadline:
    """Closes connections whose first request head has not arrived ``timeout`` seconds after they opened.

    Add :attr:`middleware` to the application (it marks connections that got a request), then
    :meth:`start` once the server exists and :meth:`stop` when it shuts down.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._served: set[RequestHandler] = set()  # pruned to the live connections at every sweep
        self._first_seen: dict[RequestHandler, float] = {}
        self._task: asyncio.Task[None] | None = None
        self.closed = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Mark the request's connection as having sent a complete request head."""
        self._served.add(request.protocol)
        return await handler(request)

    def start(self, server: web.Server) -> None:
        """Watch the connections of ``server`` until :meth:`stop`."""
        self._task = asyncio.create_task(self._watch(server), name="api-first-request-deadline")

    async def stop(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _watch(self, server: web.Server) -> None:
        interval = min(1.0, self.timeout / 4)
        while True:
            await asyncio.sleep(interval)
            self.sweep(server.connections, time.monotonic())

    def sweep(self, connections: list[RequestHandler], now: float) -> None:
        """Close every connection first seen more than ``timeout`` ago that has not had a request."""
        live = set(connections)
        self._served &= live
        self._first_seen = {c: t for c, t in self._first_seen.items() if c in live}
        for connection in connections:
            if connection in self._served:
                continue
            first_seen = self._first_seen.setdefault(connection, now)
            if now - first_seen >= self.timeout:
                self.closed += 1
                log.debug("api.connection.closed", reason="no complete request head",
                          peer=_peer(connection), after=round(now - first_seen, 1))
                connection.force_close()
                if connection.transport is not None:
                    connection.transport.close()


def _peer(connection: RequestHandler) -> str:
    transport = connection.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "?"


class ProtocolErrorLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The ``logger`` of aiohttp's request handler: a malformed request is the client's fault.

    aiohttp logs each one at error level with a traceback ("Error handling request"); here the
    first is one warning line without a traceback, later ones go to debug. Errors in heapster's
    own handlers keep their traceback.
    """

    def __init__(self) -> None:
        super().__init__(logging.getLogger("aiohttp.server"), {})
        self.malformed = 0

    def exception(self, msg: object, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            self._malformed(exc_info)
            return
        self.logger.error(msg, *args, exc_info=exc_info, **kwargs)

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, HttpProcessingError):  # aiohttp's note for a non-HTTP first line
            self._malformed(exc)
            return
        self.logger.debug(msg, *args, **kwargs)

    def _malformed(self, exc: HttpProcessingError) -> None:
        self.malformed += 1
        text = (getattr(exc, "message", "") or str(exc)).strip().splitlines()
        error = f"{type(exc).__name__}: {text[0] if text else ''}"[:200]
        if self.malformed == 1:
            log.warning("api.request.malformed", error=error, answer=f"HTTP {exc.code or 400}",
                        note="logged once; later malformed requests are logged at debug level")
        else:
            log.debug("api.request.malformed", error=error, count=self.malformed)
