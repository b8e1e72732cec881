"""``/healthz`` with Heapster's semantics and ``/metrics`` (Prometheus self-metrics)."""

from __future__ import annotations

import asyncio

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


def problem(store: MetricStore | None, clock: Clock) -> str | None:
    """Why heapster is unhealthy (Heapster's words), or None. Without a store there is nothing to check."""
    if store is None:
        return None
    stamp = store.latest_timestamp
    if stamp is None:
        return "could not get the latest data batch"
    age = clock.now() - stamp.timestamp()
    if age > MAX_BATCH_AGE:
        return f"No current data batch available (latest: {go_string(stamp)})."
    if store.latest_size < MIN_METRIC_SETS:
        return (f"Not enough metrics found in the latest data batch: {store.latest_size} "
                f"(expected min. {MIN_METRIC_SETS}) {go_string(stamp)}")
    return None


def routes(store: MetricStore | None, clock: Clock) -> list[tuple[str, Handler]]:
    """``(path, handler)`` of ``/healthz``, ``/healthz/healthz`` and ``/metrics``."""

    async def healthz(request: web.Request) -> web.Response:
        if problem(store, clock) is not None:
            return web.Response(status=500, text="[-]healthz failed: reason withheld\nhealthz check failed\n")
        if "verbose" in request.query:
            return web.Response(text="[+]healthz ok\nhealthz check passed\n")
        return web.Response(text="ok")

    async def healthz_check(request: web.Request) -> web.Response:
        reason = problem(store, clock)
        if reason is not None:
            return web.Response(status=500, text=f"internal server error: {reason}\n")
        return web.Response(text="ok")

    async def metrics(request: web.Request) -> web.Response:
        # In a thread: at 5000 nodes the per-kubelet summaries are ~55 000 lines (about 1 s of CPU).
        body = await asyncio.to_thread(generate_latest, REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [("/healthz", healthz), ("/healthz/healthz", healthz_check), ("/metrics", metrics)]
