"""A strict Cloud Logging double for tests: ``LoggingServiceV2.WriteLogEntries`` over gRPC on loopback.

It refuses what Cloud Logging refuses for these entries: an empty request or one over 10 MB; per entry
a log name that is not ``projects/<id>/logs/<URL-encoded log id>``, no resource or an unknown resource
type or label, not exactly one payload, an entry over 256 KB, a timestamp older than 30 days or more
than a day ahead. With ``partial_success`` the valid entries are written and the refused ones listed in a
``WriteLogEntriesPartialErrors`` detail of the ``INVALID_ARGUMENT`` answer; without it nothing is written.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.cloud.logging_v2.types import WriteLogEntriesPartialErrors, WriteLogEntriesRequest, WriteLogEntriesResponse
from google.rpc import code_pb2, status_pb2

from heapster.testing.grpcdouble import GrpcDouble
from heapster.testing.servers import started

RequestPb: Any = WriteLogEntriesRequest.pb()
ResponsePb: Any = WriteLogEntriesResponse.pb()
PartialErrorsPb: Any = WriteLogEntriesPartialErrors.pb()
SERVICE, METHOD = "google.logging.v2.LoggingServiceV2", "WriteLogEntries"
MAX_REQUEST = 10 * 1024 * 1024
MAX_ENTRY = 256 * 1024
_LOG_NAME = re.compile(r"^(projects|organizations|folders|billingAccounts)/[^/]+/logs/[A-Za-z0-9_.%\-]{1,512}$")
RESOURCE_LABELS = {"global": {"project_id"}, "k8s_cluster": {"project_id", "location", "cluster_name"}}


class LoggingServer(GrpcDouble):
    """The double; ``entries`` holds every written ``LogEntry``."""

    service = SERVICE
    method = METHOD
    server_options = (("grpc.max_receive_message_length", 2 * MAX_REQUEST),)

    def __init__(self) -> None:
        super().__init__("logging-double")
        self._entries: list[Any] = []
        self.requests = 0

    @property
    def entries(self) -> list[Any]:
        with self._lock:
            return list(self._entries)

    def handler(self) -> Any:
        return grpc.unary_unary_rpc_method_handler(self._write, request_deserializer=RequestPb.FromString,
                                                   response_serializer=ResponsePb.SerializeToString)

    async def _write(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self.refuse_if_failing(context)
        if not request.entries:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "No log entries were provided")
        if request.ByteSize() > MAX_REQUEST:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Request size exceeds 10 MB")
        now = datetime.now(UTC)
        errors = {i: message for i, item in enumerate(request.entries)
                  if (message := self._check(request, item, now))}
        with self._lock:
            self.requests += 1
            if not errors or request.partial_success:
                self._entries.extend(item for i, item in enumerate(request.entries) if i not in errors)
        if errors:
            partial = PartialErrorsPb()
            for index, message in errors.items():
                partial.log_entry_errors[index].CopyFrom(status_pb2.Status(code=code_pb2.INVALID_ARGUMENT,
                                                                           message=message))
            status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT,
                                       message=f"Log entry with index {min(errors)}: {errors[min(errors)]}")
            status.details.add().Pack(partial)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, status.message,
                                trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()),))
        return ResponsePb()

    @staticmethod
    def _check(request: Any, item: Any, now: datetime) -> str:
        name = item.log_name or request.log_name
        if not _LOG_NAME.match(name):
            return f"Invalid log name {name!r} (the log id must be URL-encoded)"
        resource = item.resource if item.HasField("resource") else request.resource
        if not resource.type:
            return "A monitored resource must be specified"
        allowed = RESOURCE_LABELS.get(resource.type)
        if allowed is None:
            return f"Unknown resource type {resource.type!r}"
        if set(resource.labels) - allowed:
            return f"Unrecognized labels for resource type {resource.type!r}"
        if item.WhichOneof("payload") is None:
            return "The log entry has no payload"
        if item.ByteSize() > MAX_ENTRY:
            return f"Log entry with size {item.ByteSize()} exceeds maximum size of {MAX_ENTRY}"
        if item.HasField("timestamp"):
            when = item.timestamp.ToDatetime(UTC)
            if not now - timedelta(days=30) <= when <= now + timedelta(days=1):
                return "Log entry timestamp is outside the permitted range"
        return ""


def logging_server() -> contextlib.AbstractContextManager[LoggingServer]:
    """A started double for the duration of the block."""
    return started(LoggingServer(), "shutdown")
