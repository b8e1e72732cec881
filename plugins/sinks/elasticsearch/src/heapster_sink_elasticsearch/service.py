"""One connection to an Elasticsearch or OpenSearch cluster: detection, template, indices, bulk writes."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import structlog
from elastic_transport import ApiError, TransportError
from elasticsearch import AsyncElasticsearch

from heapster import selfmetrics
from heapster.errors import ExportError, PermanentError, RetryableError, RuntimeFailure
from heapster_sink_elasticsearch.bulk import PENDING_STATUSES, Action, BulkOutcome, BulkWriter
from heapster_sink_elasticsearch.config import Settings
from heapster_sink_elasticsearch.documents import (
    EVENTS_FAMILY,
    FAMILIES,
    TIMESTAMP_FIELDS,
    Document,
    alias_name,
    daily_index,
)
from heapster_sink_elasticsearch.mappings import alias_filter, aliases, index_template, template_name
from heapster_sink_elasticsearch.server import ServerInfo, negotiate, parse_server_info
from heapster_sink_elasticsearch.transport import NegotiatingTransport

log = structlog.get_logger(__name__)

_AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY")
"""Heapster signed requests for Amazon Elasticsearch when any of these was set."""
_RETRY_PAUSE = 0.25
"""Seconds between attempts to reach the server while waiting for it at start."""


def _fast_json() -> Any:
    """orjson (a heapster-core dependency) through the client's own serializer class, if available."""
    try:
        from elasticsearch.serializer import OrjsonSerializer
    except ImportError:  # an elasticsearch client without orjson support: its default serializer
        return None
    return OrjsonSerializer()


def _failure(what: str, exc: Exception) -> ExportError:
    """Turn a client error into what the sink queue understands; never includes credentials."""
    if isinstance(exc, ApiError):
        status = exc.meta.status
        if status in PENDING_STATUSES:
            return RetryableError(f"{what}: HTTP {status} {exc.message}")
        return PermanentError(f"{what}: HTTP {status} {exc.message}")
    if isinstance(exc, TransportError):
        return RetryableError(f"{what}: {type(exc).__name__}: {exc.message}")
    return RetryableError(f"{what}: {exc}")


def _quiet_client_logs() -> None:
    """The client warns with a traceback on every failed attempt and dead node; the sink and its
    queue already report failures (once, then every tenth retry). Unless verbose logging is on,
    keep only the client's errors."""
    for name in ("elastic_transport.transport", "elastic_transport.node_pool"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET and logger.getEffectiveLevel() >= logging.WARNING:
            logger.setLevel(logging.ERROR)


class ElasticsearchService:
    """Everything one sink does with the cluster; shared code of the metric and event sinks.

    ``start`` detects the server (``GET /``), picks the media types it takes, sniffs for more
    nodes if asked, and installs the index template. ``write`` creates each day's index with
    its aliases once (cached), then bulk-writes. A write that leaves documents pending raises
    :class:`RetryableError`; the next ``write`` of the same batch sends only those documents.
    """

    def __init__(self, settings: Settings, sink_name: str, *, bulk_retries: int = 3,
                 initial_backoff: float = 0.5, max_backoff: float = 8.0, request_timeout: float = 10.0) -> None:
        self.settings = settings
        self.sink_name = sink_name
        _quiet_client_logs()
        self.client = AsyncElasticsearch(
            hosts=list(settings.nodes),
            basic_auth=settings.auth,
            max_retries=settings.max_retries,
            retry_on_status=(502, 503, 504),
            retry_on_timeout=settings.max_retries > 0,
            request_timeout=request_timeout,
            sniff_on_node_failure=settings.sniff,
            connections_per_node=max(10, settings.bulk_workers),
            transport_class=NegotiatingTransport,
            serializer=_fast_json(),
        )
        if settings.auth is not None:
            token = base64.b64encode(":".join(settings.auth).encode()).decode()
            self.transport.auth_header = f"Basic {token}"
        self.writer = BulkWriter(self.client, workers=settings.bulk_workers, pipeline=settings.pipeline,
                                 retries=bulk_retries, initial_backoff=initial_backoff, max_backoff=max_backoff)
        if any(os.environ.get(name) for name in _AWS_ENV):
            log.warning("sink.elasticsearch.aws.unsupported",
                        reason="AWS SigV4 request signing is not implemented; use basic auth or a signing proxy")
        self.server: ServerInfo | None = None
        self._indices: set[str] = set()
        self._resume: tuple[object, list[Action]] | None = None
        self._lock = asyncio.Lock()
        self._warned: set[str] = set()

    @property
    def transport(self) -> NegotiatingTransport:
        transport = self.client.transport
        assert isinstance(transport, NegotiatingTransport)
        return transport

    # --- start ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Detect the server and install the template; idempotent. RetryableError if unreachable."""
        if self.server is not None:
            return
        server = await self._detect()
        media = negotiate(server, self.settings.ver)
        self.transport.media = media
        self.transport.vouch_for_product = server.product_header != "Elasticsearch"
        if self.settings.sniff:
            try:
                await self.transport.sniff(True)
            except Exception as exc:  # sniffing is an optimisation: keep the configured nodes
                log.warning("sink.elasticsearch.sniff.failed", error=str(exc), nodes=list(self.settings.nodes))
        await self._put_template(server)
        self.server = server
        log.info("sink.elasticsearch.started", sink=self.sink_name, server=server.describe(),
                 media_type=media.json(), nodes=list(self.settings.nodes), index=self.settings.index,
                 data_streams=self.settings.data_streams)

    async def _detect(self) -> ServerInfo:
        deadline = time.monotonic() + (self.settings.startup_timeout if self.settings.health_check else 0.0)
        while True:
            try:
                meta, body = await self.transport.perform_request(
                    "GET", "/", headers={}, max_retries=self.settings.max_retries)
            except TransportError as exc:
                if time.monotonic() >= deadline:
                    msg = f"no Elasticsearch node answered at {', '.join(self.settings.nodes)}: {exc.message}"
                    raise RetryableError(msg) from None
                await asyncio.sleep(_RETRY_PAUSE)
                continue
            if meta.status in (401, 403):
                msg = f"Elasticsearch refused our credentials (HTTP {meta.status}); check esUserName/esUserSecret"
                raise RuntimeFailure(msg)
            if meta.status >= 300:
                if time.monotonic() >= deadline:
                    msg = f"Elasticsearch at {', '.join(self.settings.nodes)} answered HTTP {meta.status} to GET /"
                    raise RetryableError(msg)
                await asyncio.sleep(_RETRY_PAUSE)
                continue
            return parse_server_info(body, meta.headers)

    async def _put_template(self, server: ServerInfo) -> None:
        base, streams = self.settings.index, self.settings.data_streams
        body = index_template(base, streams)
        try:
            await self.client.indices.put_index_template(
                name=template_name(base, streams), index_patterns=body["index_patterns"],
                template=body["template"], priority=body["priority"], meta=body["_meta"],
                data_stream=body.get("data_stream"),
            )
        except ApiError as exc:
            if exc.meta.status in (400, 404, 405) and not server.opensearch and server.major == 7:
                msg = f"{server.describe()} has no composable index templates: Elasticsearch 7.8 or later is needed"
                raise RuntimeFailure(msg) from None
            raise _failure("installing the index template failed", exc) from None
        except TransportError as exc:
            raise _failure("installing the index template failed", exc) from None

    # --- writing ----------------------------------------------------------------------------

    def action(self, doc: Document) -> Action:
        """The bulk action of one document: into a daily index, or ``create`` into a data stream.

        An event document is ``create``d in a daily index too: its id is the event version's, so a second
        write can only repeat the first (a retry after an answer lost to the request timeout, a batch a new
        leader exports again); 409 counts as written and the document is written exactly once (``_version``
        1) instead of overwritten with itself.
        """
        if self.settings.data_streams:
            source = {**doc.source, "@timestamp": doc.source[TIMESTAMP_FIELDS[doc.family]]}
            return {"_op_type": "create", "_index": alias_name(self.settings.index, doc.family),
                    "_id": doc.id, "_source": source}
        op = "create" if doc.family == EVENTS_FAMILY else "index"
        return {"_op_type": op, "_index": daily_index(self.settings.index, doc.timestamp),
                "_id": doc.id, "_source": doc.source}

    async def write(self, key: object, documents: Sequence[Document]) -> BulkOutcome:
        """Write one batch's documents (``key`` identifies the batch across retries)."""
        async with self._lock:
            try:
                await self.start()
            except TransportError as exc:
                raise _failure("Elasticsearch unreachable", exc) from None
            if self._resume is not None and self._resume[0] is key:
                actions = self._resume[1]
            else:
                actions = [self.action(doc) for doc in documents]
            self._resume = None
            await self._ensure_indices(actions)
            outcome = await self.writer.write(actions)
            self._report(outcome)
            if not outcome.complete:
                self._resume = (key, outcome.pending)
                reason = outcome.failure or "the server asked to retry later"
                msg = f"{len(outcome.pending)} of {len(actions)} documents not written yet: {reason}"
                raise RetryableError(msg)
            return outcome

    async def _ensure_indices(self, actions: Sequence[Action]) -> None:
        if self.settings.data_streams:
            return  # streams are created from the template on the first write
        for name in sorted({a["_index"] for a in actions} - self._indices):
            try:
                await self._create_index(name)
            except (ApiError, TransportError) as exc:
                raise _failure(f"creating index {name} failed", exc) from None
            self._indices.add(name)

    async def _create_index(self, name: str) -> None:
        base = self.settings.index
        try:
            await self.client.indices.create(index=name, aliases=aliases(base))
        except ApiError as exc:
            if exc.meta.status != 400 or "resource_already_exists_exception" not in str(exc.body):
                raise
            # Made by another process or before a restart: make sure Heapster's aliases are on it.
            actions = [{"add": {"index": name, "alias": alias_name(base, kind), "filter": alias_filter(kind)}}
                       for kind in FAMILIES]
            await self.client.indices.update_aliases(actions=actions)
        log.debug("sink.elasticsearch.index.ready", index=name)

    def _report(self, outcome: BulkOutcome) -> None:
        if not outcome.rejected:
            return
        selfmetrics.sink_dropped_items.labels(sink=self.sink_name).inc(len(outcome.rejected))
        reasons: list[str] = []
        for _action, info in outcome.rejected:
            reason = _reason(info)
            if reason not in reasons:
                reasons.append(reason)
        log.warning("sink.elasticsearch.documents.rejected", sink=self.sink_name, count=len(outcome.rejected),
                    reasons=reasons[:5], first_id=outcome.rejected[0][0]["_id"],
                    first_index=outcome.rejected[0][0]["_index"])

    def warn_once(self, event: str, **context: Any) -> None:
        """Log ``event`` at warning level the first time, at debug level afterwards."""
        if event in self._warned:
            log.debug(event, **context)
            return
        self._warned.add(event)
        log.warning(event, **context)

    async def close(self) -> None:
        """Stop a background sniff (started when a node failed) and release the client's connections."""
        sniffing = getattr(self.transport, "_sniffing_task", None)
        if isinstance(sniffing, asyncio.Task) and not sniffing.done():
            sniffing.cancel()
            await asyncio.wait([sniffing], timeout=1.0)
        await self.client.close()


def _reason(info: dict[str, Any]) -> str:
    error = info.get("error")
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {str(error.get('reason', ''))[:200]}"
    return f"HTTP {info.get('status')}: {str(error)[:200]}"
