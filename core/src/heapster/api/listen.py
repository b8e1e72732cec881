"""Listening for the HTTP API (either daemon's): idle and first-request deadlines, optional TLS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from aiohttp import web

from heapster.api.connections import FirstRequestDeadline, ProtocolErrorLogger
from heapster.http1 import DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT
from heapster.settings import HeapsterSettings

log = structlog.get_logger("heapster.api")

__all__ = ["DEFAULT_HEADER_TIMEOUT", "DEFAULT_IDLE_TIMEOUT", "start_api_server"]


async def start_api_server(app: web.Application, values: HeapsterSettings | Mapping[str, Any]) -> web.AppRunner:
    """Listen on ``listen_ip``:``heapster_port`` (HTTPS with ``tls_cert``/``tls_key``); returns the runner.

    Connections idle for ``api_idle_timeout`` after a response (or holding an incomplete request
    that long) and connections without a complete first request head after ``api_header_timeout``
    are closed. Call ``await runner.cleanup()`` to stop. With port 0 the bound address is in
    ``runner.addresses``. A mapping of those names (the eventer's two) is taken as well.
    """
    settings = HeapsterSettings.of(values)
    deadline = FirstRequestDeadline(settings.api_header_timeout or DEFAULT_HEADER_TIMEOUT)
    app.middlewares.insert(0, deadline.middleware)

    async def stop_deadline(_: web.Application) -> None:
        await deadline.stop()

    app.on_cleanup.append(stop_deadline)
    runner = web.AppRunner(app, access_log=None, logger=ProtocolErrorLogger(),
                           keepalive_timeout=settings.api_idle_timeout or DEFAULT_IDLE_TIMEOUT)
    await runner.setup()
    host = settings.listen_ip or None
    port = settings.heapster_port
    tls = None
    if settings.tls_cert:
        from heapster.api.security import ssl_context

        tls = ssl_context(settings)
    site = web.TCPSite(runner, host=host, port=port, ssl_context=tls)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    assert runner.server is not None
    deadline.start(runner.server)
    log.debug("api.started", addresses=[str(a) for a in runner.addresses])
    return runner
