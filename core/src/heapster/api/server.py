"""Building and starting the aiohttp application of the HTTP API."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import structlog
from aiohttp import web

from heapster.api import export, health
from heapster.api.dashboard import add_dashboard
from heapster.api.instrument import Handler, instrumented
from heapster.api.listen import DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, start_api_server
from heapster.api.model import ModelApi
from heapster.api.resource_metrics import add_resource_metrics
from heapster.api.security import client_cert_middleware
from heapster.api.thread import on_loop, on_loop_middleware
from heapster.errors import UsageError
from heapster.interfaces import Clock, ClusterState, HistoricalSource, SystemClock
from heapster.settings import HeapsterSettings
from heapster.store import MetricStore

log = structlog.get_logger(__name__)

__all__ = ["DEFAULT_HEADER_TIMEOUT", "DEFAULT_IDLE_TIMEOUT", "create_api_app", "start_api_server"]

HISTORICAL_PREFIX = "/api/v1/historical"
_COMPRESSIBLE = ("application/json", "text/plain")


@web.middleware
async def not_found_as_go_restful(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A path no route matches: go-restful's ``404: Page Not Found`` (aiohttp would say ``404: Not Found``)."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return web.Response(status=404, text="404: Page Not Found")


@web.middleware
async def compress(request: web.Request, handler: Handler) -> web.StreamResponse:
    """gzip/deflate responses when the client asks for it (as go-restful's content encoding)."""
    response = await handler(request)
    accept = request.headers.get("Accept-Encoding", "").lower()
    if (
        isinstance(response, web.Response)
        and ("gzip" in accept or "deflate" in accept)
        and response.content_type in _COMPRESSIBLE
        and not response.compression
    ):
        response.enable_compression()
    return response


def create_api_app(store: MetricStore | None, cluster: ClusterState | None,
                   values: HeapsterSettings | Mapping[str, Any],
                   historical: HistoricalSource | None = None, *, clock: Clock | None = None,
                   latest_batch: health.LatestBatch | None = None, shards: Any = None,
                   pipeline_loop: asyncio.AbstractEventLoop | None = None) -> web.Application:
    """The application serving every route of HEAPSTER.md §6.2-6.4 and §6.6, plus v1beta1.

    ``store`` is the metric store (None with ``--disable_metric_sink``: the model and metrics
    APIs are then absent and /healthz checks ``latest_batch``, the pipeline's newest batch, if
    given, else nothing); ``cluster`` the cluster state used
    by the metrics API for node/pod lists and label selectors. Settings used: ``tls_client_ca``,
    ``allowed_users``, ``disable_export``, ``metric_resolution``. ``shards`` (a
    :class:`heapster.shards.coordinator.ShardCoordinator`, with ``--shard``) makes the model, export and
    metrics routes answer for every shard and serves the shards' internal partials route.
    ``pipeline_loop``: the daemon's loop, when the API is served from another one (:mod:`heapster.api.thread`);
    the historical routes and the shards' partials then run there, and the fan-out gets a client of its own.
    """
    settings = HeapsterSettings.of(values)
    clock = clock or SystemClock()
    if settings.allowed_users and not settings.tls_client_ca:
        msg = "--allowed_users needs --tls_client_ca: without client certificates no user is known"
        raise UsageError(msg)
    middlewares = [compress, not_found_as_go_restful]
    if settings.tls_client_ca:
        middlewares.insert(0, client_cert_middleware(settings.allowed_users))
    app = web.Application(middlewares=middlewares)
    latest = health.store_latest(store) if store is not None else latest_batch
    for path, handler in health.routes(health.batch_check(latest, clock)):
        app.router.add_get(path, handler)
    for path, operation, handler in export.routes(store, settings.disable_export):
        app.router.add_get(path, instrumented(operation, handler))
    if store is not None:
        ModelApi(store, clock).add_to(app)
        add_resource_metrics(app, store, cluster, clock, settings.metric_resolution or 60.0)
        add_dashboard(app, cluster)
    if shards is not None:
        from heapster.shards.coordinator import PARTIALS_PATH
        from heapster.shards.fanout import fanout_middleware

        client = shards.client
        partials = shards.serve_partials
        if pipeline_loop is not None:  # the coordinator's client and events belong to the daemon's loop
            client = _own_client(app, client.twin())
            partials = on_loop(pipeline_loop, partials)
        app.middlewares.append(fanout_middleware(shards.peers, client, lambda: shards.missing))
        app.router.add_get(PARTIALS_PATH, partials)
    if historical is not None:
        historical_app = historical.historical_app()
        if pipeline_loop is not None:
            historical_app.middlewares.append(on_loop_middleware(pipeline_loop))
        app.add_subapp(HISTORICAL_PREFIX, historical_app)
    return app


def _own_client(app: web.Application, client: Any) -> Any:
    """``client`` (a peer client), closed with ``app``."""

    async def close(_: web.Application) -> None:
        await client.close()

    app.on_cleanup.append(close)
    return client
