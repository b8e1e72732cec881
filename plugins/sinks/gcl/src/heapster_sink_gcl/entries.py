"""Kubernetes events as the log entries Heapster's ``gcl`` sink wrote (``events/sinks/gcl/gcl.go``).

One entry per event in the log ``projects/<project>/logs/kubernetes.io%2Fevents`` on the ``global``
resource, severity ``NOTICE``, ``insertId`` = the event's uid, ``jsonPayload`` = the event, timestamp =
``lastTimestamp`` in whole seconds. (Heapster sent Go's zero time for events without one, which Cloud
Logging does not ingest; here ``eventTime``, ``firstTimestamp``, the creation time or the batch time
stands in.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from google.cloud.logging_v2.types import LogEntry
from google.logging.type import log_severity_pb2

from heapster.gojson import event_time
from heapster.model import Event

LOG_ID = "kubernetes.io/events"
RESOURCE_TYPE = "global"
SEVERITY = log_severity_pb2.NOTICE

EntryPb: Any = LogEntry.pb()


def log_name(project: str) -> str:
    """``projects/<project>/logs/kubernetes.io%2Fevents`` (the log id URL-encoded, as Go's QueryEscape did)."""
    return f"projects/{project}/logs/{quote(LOG_ID, safe='')}"


def entry(event: Event, project: str, fallback: datetime) -> Any:
    """One event as a ``LogEntry`` message."""
    message = EntryPb(log_name=log_name(project), severity=SEVERITY,
                      insert_id=str((event.get("metadata") or {}).get("uid") or ""))
    message.resource.type = RESOURCE_TYPE
    message.timestamp.FromDatetime(event_time(event, fallback).replace(microsecond=0))
    message.json_payload.update(event)
    return message
