"""``/healthz`` with Heapster's semantics, ``/readyz`` and ``/livez`` probes, and ``/metrics`` (self-metrics).

Shared by both daemons: heapster mounts :func:`routes` in its HTTP API with :func:`batch_check`; the
eventer serves :func:`health_app` with its own check (export cycles on time). Kept light to import
(no store, no numpy) so the eventer does not pay for heapster's API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from heapster.interfaces import Clock
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


def routes(check: HealthCheck, refresh: Callable[[], None] | None = None) -> list[tuple[str, Handler]]:
    """``/healthz``, ``/healthz/healthz`` (Heapster's), ``/readyz``, ``/livez`` and ``/metrics``.

    ``/healthz`` keeps Heapster's meaning: failing (500, reason withheld) while ``check()`` names a
    problem (heapster: until the first batch and when the newest is older than 3 minutes).
    ``/healthz/healthz`` gives the reason; ``/readyz`` is the same check with its reason and 503, for
    readiness probes; ``/livez`` answers 200 whenever the process serves requests, for liveness
    probes that must not restart the daemon because the cluster is unreachable. ``refresh()`` (if
    given) updates gauges before ``/metrics`` is rendered.
    """

    async def healthz(request: web.Request) -> web.Response:
        if check() is not None:
            return web.Response(status=500, text="[-]healthz failed: reason withheld\nhealthz check failed\n")
        if "verbose" in request.query:
            return web.Response(text="[+]healthz ok\nhealthz check passed\n")
        return web.Response(text="ok")

    async def healthz_check(request: web.Request) -> web.Response:
        reason = check()
        if reason is not None:
            return web.Response(status=500, text=f"internal server error: {reason}\n")
        return web.Response(text="ok")

    async def readyz(request: web.Request) -> web.Response:
        reason = check()
        if reason is not None:
            return web.Response(status=503, text=f"not ready: {reason}\n")
        return web.Response(text="ok")

    async def livez(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def metrics(request: web.Request) -> web.Response:
        if refresh is not None:
            refresh()
        # In a thread: at 5000 nodes the per-kubelet summaries are ~55 000 lines (about 1 s of CPU).
        body = await asyncio.to_thread(generate_latest, REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [("/healthz", healthz), ("/healthz/healthz", healthz_check), ("/readyz", readyz), ("/livez", livez),
            ("/metrics", metrics)]


def health_app(check: HealthCheck, refresh: Callable[[], None] | None = None) -> web.Application:
    """An application serving only :func:`routes` (the eventer's port); serve it with ``start_api_server``."""
    app = web.Application()
    for path, handler in routes(check, refresh):
        app.router.add_get(path, handler)
    return app
