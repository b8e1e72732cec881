"""Kubernetes events as OTLP log records (``ExportLogsServiceRequest``), one resource per event.

The resource names the involved object by the Kubernetes semantic conventions
(``k8s.namespace.name``, ``k8s.pod.name``/``k8s.pod.uid``, ``k8s.node.name``, ...); the record's
time is the event's last occurrence, its body the message, its severity INFO (Normal) or WARN
(Warning), and its attributes the event's reason, name, uid, count and source.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import SeverityNumber

from heapster.model import Event, EventBatch
from heapster.timefmt import parse_rfc3339
from heapster_sink_otlp.metrics import SCOPE_NAME, SCOPE_VERSION, unix_nano

SEMCONV_KINDS = frozenset({"pod", "node", "namespace", "deployment", "replicaset", "statefulset", "daemonset",
                           "job", "cronjob", "container"})
"""Involved-object kinds with ``k8s.<kind>.name`` / ``.uid`` resource attributes."""

SEVERITY = {"Normal": SeverityNumber.SEVERITY_NUMBER_INFO, "Warning": SeverityNumber.SEVERITY_NUMBER_WARN}


def _time(event: Event, fallback: datetime) -> int:
    """The event's last occurrence in nanoseconds (event time, then creation, then the batch time)."""
    series: dict[str, Any] = event.get("series") or {}
    meta: dict[str, Any] = event.get("metadata") or {}
    for text in (event.get("lastTimestamp"), series.get("lastObservedTime"), event.get("eventTime"),
                 event.get("firstTimestamp"), meta.get("creationTimestamp")):
        if text:
            try:
                return unix_nano(parse_rfc3339(str(text)))
            except ValueError:
                continue
    return unix_nano(fallback)


def event_resource(event: Event) -> list[tuple[str, str]]:
    """Resource attributes of an event: its namespace, node and involved object."""
    involved: dict[str, Any] = event.get("involvedObject") or {}
    meta: dict[str, Any] = event.get("metadata") or {}
    pairs: list[tuple[str, str]] = []
    namespace = involved.get("namespace") or meta.get("namespace")
    if namespace:
        pairs.append(("k8s.namespace.name", str(namespace)))
    kind = str(involved.get("kind") or "").lower()
    host = (event.get("source") or {}).get("host") or ""
    if kind == "node" and involved.get("name"):
        host = involved["name"]
    if host:
        pairs.append(("k8s.node.name", str(host)))
    if kind in SEMCONV_KINDS and kind != "node":
        if involved.get("name"):
            pairs.append((f"k8s.{kind}.name", str(involved["name"])))
        if involved.get("uid"):
            pairs.append((f"k8s.{kind}.uid", str(involved["uid"])))
    return pairs


def event_attributes(event: Event) -> list[tuple[str, str | int]]:
    """Log-record attributes: what happened and to which object."""
    involved: dict[str, Any] = event.get("involvedObject") or {}
    meta: dict[str, Any] = event.get("metadata") or {}
    source: dict[str, Any] = event.get("source") or {}
    candidates: list[tuple[str, Any]] = [
        ("event.domain", "k8s"),
        ("event.name", meta.get("name")),
        ("k8s.event.reason", event.get("reason")),
        ("k8s.event.name", meta.get("name")),
        ("k8s.event.uid", meta.get("uid")),
        ("k8s.event.count", event.get("count")),
        ("k8s.event.action", event.get("action")),
        ("k8s.event.source.component", source.get("component") or event.get("reportingComponent")),
        ("k8s.object.kind", involved.get("kind")),
        ("k8s.object.name", involved.get("name")),
        ("k8s.object.uid", involved.get("uid")),
        ("k8s.object.fieldpath", involved.get("fieldPath")),
        ("k8s.object.api_version", involved.get("apiVersion")),
    ]
    return [(k, v if isinstance(v, int) and not isinstance(v, bool) else str(v))
            for k, v in candidates if v not in (None, "")]


def encode_events(batch: EventBatch) -> bytes:
    """The serialized request carrying every event of the batch."""
    request = ExportLogsServiceRequest()
    observed = unix_nano(batch.timestamp)
    for event in batch.events:
        resource_logs = request.resource_logs.add()
        for key, text in event_resource(event):
            resource_logs.resource.attributes.add(key=key).value.string_value = text
        scope = resource_logs.scope_logs.add()
        scope.scope.name, scope.scope.version = SCOPE_NAME, SCOPE_VERSION
        kind = str(event.get("type") or "Normal")
        record = scope.log_records.add(
            time_unix_nano=_time(event, batch.timestamp), observed_time_unix_nano=observed,
            severity_number=SEVERITY.get(kind, SeverityNumber.SEVERITY_NUMBER_INFO), severity_text=kind)
        record.body.string_value = str(event.get("message") or "")
        for key, value in event_attributes(event):
            attribute = record.attributes.add(key=key)
            if isinstance(value, int):
                attribute.value.int_value = value
            else:
                attribute.value.string_value = value
    body: bytes = request.SerializeToString()
    return body
