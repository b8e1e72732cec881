"""``/healthz`` with Heapster's semantics, ``/readyz`` and ``/livez`` probes, and ``/metrics`` (self-metrics).

Shared by both daemons: heapster mounts :func:`routes` in its HTTP API with :func:`batch_check`; the
eventer serves the same handlers with :func:`serve_health` and its own check (export cycles on time).
Kept light to import (no aiohttp, no store, no numpy) so the eventer does not pay for heapster's API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from heapster.http1 import Handler as Handler1
from heapster.http1 import Reply, Request, Server
from heapster.interfaces import Clock
from heapster.promregistry import CONTENT_TYPE
from heapster.selfmetrics import REGISTRY
from heapster.timefmt import go_string

if TYPE_CHECKING:
    from heapster.api.instrument import Handler
    from heapster.store import MetricStore

MAX_BATCH_AGE = 180.0
"""Seconds after which the newest batch is too old (Heapster: 3 minutes)."""
MIN_METRIC_SETS = 1


LatestBatch = Callable[[], tuple[datetime | None, int]]
"""The newest batch's ``(timestamp, number of metric sets)``; ``(None, 0)`` before the first one."""

HealthCheck = Callable[[], "str | None"]
"""Why the daemon is unhealthy (one line), or None when it is healthy."""


def store_latest(store: MetricStore) -> LatestBatch:
    """The newest batch as the metric store holds it."""

    def latest() -> tuple[datetime | None, int]:
        with store.reading():  # both of the same batch, whatever thread writes
            return store.latest_timestamp, store.latest_size

    return latest


def problem(latest: LatestBatch | None, clock: Clock) -> str | None:
    """Why heapster is unhealthy (Heapster's words), or None; None too without a view of the batches."""
    if latest is None:
        return None
    stamp, size = latest()
    if stamp is None:
        return "could not get the latest data batch"
    age = clock.now() - stamp.timestamp()
    if age > MAX_BATCH_AGE:
        return f"No current data batch available (latest: {go_string(stamp)})."
    if size < MIN_METRIC_SETS:
        return (f"Not enough metrics found in the latest data batch: {size} "
                f"(expected min. {MIN_METRIC_SETS}) {go_string(stamp)}")
    return None


def batch_check(latest: LatestBatch | None, clock: Clock) -> HealthCheck:
    """heapster's check: :func:`problem` of the newest batch."""
    return lambda: problem(latest, clock)


def replies(check: HealthCheck, refresh: Callable[[], None] | None = None) -> dict[str, Handler1]:
    """``/healthz``, ``/healthz/healthz`` (Heapster's), ``/readyz``, ``/livez`` and ``/metrics``, as plain handlers.

    ``/healthz`` keeps Heapster's meaning: failing (500, reason withheld) while ``check()`` names a
    problem (heapster: until the first batch and when the newest is older than 3 minutes).
    ``/healthz/healthz`` gives the reason; ``/readyz`` is the same check with its reason and 503, for
    readiness probes; ``/livez`` answers 200 whenever the process serves requests, for liveness
    probes that must not restart the daemon because the cluster is unreachable. ``refresh()`` (if
    given) updates gauges before ``/metrics`` is rendered. The eventer serves these with
    :class:`heapster.http1.Server`; heapster mounts them in its aiohttp API through :func:`routes`.
    """

    async def healthz(request: Request) -> Reply:
        if check() is not None:
            return Reply(500, "[-]healthz failed: reason withheld\nhealthz check failed\n")
        if "verbose" in request.query:
            return Reply(200, "[+]healthz ok\nhealthz check passed\n")
        return Reply(200, "ok")

    async def healthz_check(request: Request) -> Reply:
        reason = check()
        if reason is not None:
            return Reply(500, f"internal server error: {reason}\n")
        return Reply(200, "ok")

    async def readyz(request: Request) -> Reply:
        reason = check()
        if reason is not None:
            return Reply(503, f"not ready: {reason}\n")
        return Reply(200, "ok")

    async def livez(request: Request) -> Reply:
        return Reply(200, "ok")

    async def metrics(request: Request) -> Reply:
        if refresh is not None:
            refresh()
        # In a thread: at 5000 nodes the per-kubelet summaries are ~55 000 lines (about 1 s of CPU).
        body = await asyncio.to_thread(REGISTRY.exposition)
        return Reply(200, body, CONTENT_TYPE)

    return {"/healthz": healthz, "/healthz/healthz": healthz_check, "/readyz": readyz, "/livez": livez,
            "/metrics": metrics}


def routes(check: HealthCheck, refresh: Callable[[], None] | None = None) -> list[tuple[str, Handler]]:
    """:func:`replies` as aiohttp handlers (heapster's API)."""
    from aiohttp import web

    def adapt(handler: Handler1) -> Handler:
        async def serve(request: web.Request) -> web.Response:
            reply = await handler(Request(request.method, request.path,
                                          {k: request.query.getall(k) for k in request.query}))
            body = reply.body.encode() if isinstance(reply.body, str) else reply.body
            return web.Response(status=reply.status, body=body, headers={"Content-Type": reply.content_type})

        return serve

    return [(path, adapt(handler)) for path, handler in replies(check, refresh).items()]


async def serve_health(check: HealthCheck, refresh: Callable[[], None] | None, host: str, port: int) -> Server:
    """Serve only :func:`replies` (the eventer's port) with heapster's idle and first-request deadlines.

    ``await server.cleanup()`` stops it; with port 0 the bound address is in ``server.addresses``.
    """
    server = Server(replies(check, refresh))
    await server.start(host, port)
    return server
