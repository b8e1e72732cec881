"""The ``gcl`` event sink: each batch's events written with ``WriteLogEntries`` (partial success on).

Entries go in requests of at most 1000 (and under Cloud Logging's 10 MB request limit). Entries the
API refuses (``WriteLogEntriesPartialErrors``) are dropped and counted; an unavailable API makes the
batch retry through the eventer's sink queue, without resending requests already written.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import structlog
from google.api_core import exceptions as api_exceptions
from google.cloud.logging_v2.types import WriteLogEntriesPartialErrors, WriteLogEntriesRequest
from google.protobuf import any_pb2

from heapster import gcp
from heapster.errors import PermanentError, RetryableError
from heapster.interfaces import EventSink
from heapster.model import EventBatch
from heapster.resume import SentParts
from heapster_sink_gcl.config import GclConfig
from heapster_sink_gcl.entries import entry

log = structlog.get_logger(__name__)

SINK_NAME = "GCL Sink"
MAX_ENTRIES = 1000
MAX_REQUEST_BYTES = 9_000_000
"""Below Cloud Logging's 10 MB per request, leaving room for the request's own fields."""

RequestPb: Any = WriteLogEntriesRequest.pb()
PartialErrorsPb: Any = WriteLogEntriesPartialErrors.pb()
TRANSIENT = (api_exceptions.ServiceUnavailable, api_exceptions.DeadlineExceeded, api_exceptions.TooManyRequests,
             api_exceptions.InternalServerError, api_exceptions.Aborted, api_exceptions.Unknown,
             api_exceptions.GatewayTimeout)


def requests_for(entries: Iterable[Any]) -> list[Any]:
    """The entries in ``WriteLogEntries`` requests of at most 1000 entries and 9 MB."""
    out: list[Any] = []
    current, size = RequestPb(partial_success=True), 0
    for item in entries:
        item_size = item.ByteSize()
        if current.entries and (len(current.entries) >= MAX_ENTRIES or size + item_size > MAX_REQUEST_BYTES):
            out.append(current)
            current, size = RequestPb(partial_success=True), 0
        current.entries.append(item)
        size += item_size
    if current.entries:
        out.append(current)
    return out


def refused_entries(exc: api_exceptions.GoogleAPICallError, sent: int) -> int:
    """How many entries a refused request lost (from ``WriteLogEntriesPartialErrors``, else all)."""
    for detail in getattr(exc, "details", None) or ():
        if isinstance(detail, PartialErrorsPb):
            return len(detail.log_entry_errors)
        if isinstance(detail, any_pb2.Any) and detail.Is(PartialErrorsPb.DESCRIPTOR):  # api-core leaves it packed
            partial = PartialErrorsPb()
            detail.Unpack(partial)
            return len(partial.log_entry_errors)
    return sent


class GclEventSink(EventSink):
    """Writes Kubernetes events to Cloud Logging as Heapster's ``gcl`` sink did."""

    name = SINK_NAME

    def __init__(self, config: GclConfig) -> None:
        self.config = config
        self.project = ""
        self.client: Any = None
        self._sent = SentParts()

    async def start(self) -> None:
        """Find the project and create the client (PermanentError without project or credentials)."""
        if self.client is not None:
            return
        c = self.config
        self.project = await gcp.find_project(c.project, lookups=not c.insecure)
        if not self.project:
            msg = "no Google Cloud project: give option 'project', set $GOOGLE_PROJECT_ID, or run on GCE"
            raise PermanentError(msg)
        try:
            self.client = self._client()
        except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError and friends
            raise PermanentError(f"cannot create the Cloud Logging client: {exc}") from None
        log.info("gcl.sink.started", sink=self.name, uri=c.masked_uri, project=self.project)

    def _client(self) -> Any:
        from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2AsyncClient

        c = self.config
        if c.insecure:
            import grpc
            from google.cloud.logging_v2.services.logging_service_v2.transports import (
                LoggingServiceV2GrpcAsyncIOTransport,
            )

            channel = grpc.aio.insecure_channel(c.endpoint, options=[("grpc.initial_reconnect_backoff_ms", 100),
                                                                     ("grpc.max_reconnect_backoff_ms", 2000)])
            return LoggingServiceV2AsyncClient(transport=LoggingServiceV2GrpcAsyncIOTransport(channel=channel))
        from google.api_core.client_options import ClientOptions

        return LoggingServiceV2AsyncClient(client_options=ClientOptions(api_endpoint=c.endpoint) if c.endpoint
                                           else None)

    async def close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            await client.transport.close()

    async def export_events(self, batch: EventBatch) -> None:
        """Write the batch's events; nothing is sent for an empty batch."""
        if not batch.events:
            return
        if self.client is None:
            await self.start()
        requests = requests_for(entry(e, self.project, batch.timestamp) for e in batch.events)
        refused, reason = 0, ""
        for _, request in self._sent.pending(batch, requests):
            started = time.perf_counter()
            try:
                await self.client.write_log_entries(request=WriteLogEntriesRequest.wrap(request), retry=None,
                                                    timeout=self.config.timeout)
            except TRANSIENT as exc:
                raise RetryableError(f"Cloud Logging did not take {len(request.entries)} entries: "
                                     f"{getattr(exc, 'message', exc)}") from None
            except api_exceptions.GoogleAPICallError as exc:
                refused += refused_entries(exc, len(request.entries))
                reason = reason or str(getattr(exc, "message", exc))
            except Exception as exc:  # e.g. an unreadable error status: retry (insertId deduplicates) rather than lose
                raise RetryableError(f"Cloud Logging write failed: {exc!r}") from None
            log.debug("gcl.sink.written", entries=len(request.entries),
                      milliseconds=round((time.perf_counter() - started) * 1000, 1))
        if refused:
            raise PermanentError(f"Cloud Logging refused {refused} entries: {reason}", dropped=refused)
