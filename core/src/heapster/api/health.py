"""``/healthz`` with Heapster's semantics, ``/readyz`` and ``/livez`` probes, and ``/metrics`` (self-metrics)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from heapster.api.instrument import Handler
from heapster.interfaces import Clock
from heapster.selfmetrics import REGISTRY
from heapster.store import MetricStore
from heapster.timefmt import go_string

MAX_BATCH_AGE = 180.0
"""Seconds after which the newest batch is too old (Heapster: 3 minutes)."""
MIN_METRIC_SETS = 1


LatestBatch = Callable[[], tuple[datetime | None, int]]
"""The newest batch's ``(timestamp, number of metric sets)``; ``(None, 0)`` before the first one."""


def store_latest(store: MetricStore) -> LatestBatch:
    """The newest batch as the metric store holds it."""
    return lambda: (store.latest_timestamp, store.latest_size)


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


def routes(latest: LatestBatch | None, clock: Clock) -> list[tuple[str, Handler]]:
    """``/healthz``, ``/healthz/healthz`` (Heapster's), ``/readyz``, ``/livez`` and ``/metrics``.

    ``/healthz`` keeps Heapster's meaning: failing until the first batch and when the newest is
    older than 3 minutes. ``/readyz`` is the same check with its reason and 503, for readiness
    probes; ``/livez`` answers 200 whenever the process serves requests, for liveness probes that
    must not restart heapster because the cluster is unreachable.
    """

    async def healthz(request: web.Request) -> web.Response:
        if problem(latest, clock) is not None:
            return web.Response(status=500, text="[-]healthz failed: reason withheld\nhealthz check failed\n")
        if "verbose" in request.query:
            return web.Response(text="[+]healthz ok\nhealthz check passed\n")
        return web.Response(text="ok")

    async def healthz_check(request: web.Request) -> web.Response:
        reason = problem(latest, clock)
        if reason is not None:
            return web.Response(status=500, text=f"internal server error: {reason}\n")
        return web.Response(text="ok")

    async def readyz(request: web.Request) -> web.Response:
        reason = problem(latest, clock)
        if reason is not None:
            return web.Response(status=503, text=f"not ready: {reason}\n")
        return web.Response(text="ok")

    async def livez(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def metrics(request: web.Request) -> web.Response:
        # In a thread: at 5000 nodes the per-kubelet summaries are ~55 000 lines (about 1 s of CPU).
        body = await asyncio.to_thread(generate_latest, REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [("/healthz", healthz), ("/healthz/healthz", healthz_check), ("/readyz", readyz), ("/livez", livez),
            ("/metrics", metrics)]
