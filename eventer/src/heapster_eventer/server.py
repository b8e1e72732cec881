"""The eventer's HTTP server: ``/healthz`` (and ``/healthz/healthz``) and ``/metrics``."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from heapster.selfmetrics import REGISTRY

log = structlog.get_logger("heapster_eventer.server")

STALE_AFTER = 180.0
"""Heapster's health limit: the last housekeeping must be younger than 3 minutes."""


def build_app(health: Callable[[], tuple[bool, str]], refresh: Callable[[], None] | None = None) -> web.Application:
    """The application; ``health()`` returns (healthy, reason), ``refresh()`` updates gauges before /metrics."""

    async def healthz(request: web.Request) -> web.Response:
        ok, reason = health()
        return web.Response(status=200 if ok else 500, text="ok" if ok else reason)

    async def metrics(request: web.Request) -> web.Response:
        if refresh is not None:
            refresh()
        body = generate_latest(REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/healthz/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner (to clean up) and the bound port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = port
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    if sockets:
        bound = sockets[0].getsockname()[1]
    log.info("eventer.listening", host=host, port=bound)
    return runner, bound
