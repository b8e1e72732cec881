"""Heapster's Elasticsearch documents (HEAPSTER.md §8): family, general and event documents."""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from heapster.catalogue import family
from heapster.model import DataBatch, Event
from heapster.timefmt import parse_rfc3339, rfc3339

FAMILIES = ("cpu", "memory", "network", "filesystem", "general", "events")
"""Every document type, in the order of Heapster's aliases ``<index>-<type>``."""

TIMESTAMP_FIELDS = {
    "cpu": "CpuMetricsTimestamp",
    "memory": "MemoryMetricsTimestamp",
    "network": "NetworkMetricsTimestamp",
    "filesystem": "FilesystemMetricsTimestamp",
    "general": "GeneralMetricsTimestamp",
    "events": "LastOccurrenceTimestamp",
}
"""The date field each document type carries (and that its alias filters on)."""


@dataclass(frozen=True, slots=True)
class Document:
    """One document to index: its type, the time that picks its daily index, its id and body."""

    family: str
    timestamp: datetime
    id: str
    source: dict[str, Any]


def document_id(*parts: object) -> str:
    """A deterministic id from a document's content key and timestamp, so a retry overwrites."""
    text = "\x1f".join(str(part) for part in parts)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _tag_key(tags: Mapping[str, str]) -> str:
    return "\x1e".join(f"{k}={v}" for k, v in sorted(tags.items()))


def _finite(value: int | float) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def metric_documents(batch: DataBatch, cluster_name: str) -> tuple[list[Document], int]:
    """The documents of one batch and how many values were skipped as not finite (NaN, ±Inf).

    Within one metric set, metrics of the same family with identical tags become one
    document; every ``general`` metric becomes its own document. Labeled metrics carry the
    set's labels merged with their own. ``cluster_name`` is added to every tag map.
    """
    stamp = batch.timestamp.astimezone(UTC)
    when = rfc3339(stamp)
    docs: list[Document] = []
    skipped = 0
    for metric_set in batch.metric_sets.values():
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        set_tags = {**metric_set.labels, "cluster_name": cluster_name}
        set_key = _tag_key(set_tags)
        entries: list[tuple[str, dict[str, str], str, int | float]] = [
            (name, set_tags, set_key, value.value) for name, value in metric_set.values.items()
        ]
        for metric in metric_set.labeled:
            tags = {**metric_set.labels, **metric.labels, "cluster_name": cluster_name}
            entries.append((metric.name, tags, _tag_key(tags), metric.value))
        for name, tags, tag_key, value in entries:
            if not _finite(value):
                skipped += 1
                continue
            kind = family(name)
            if kind == "general":
                source = {
                    "GeneralMetricsTimestamp": when,
                    "MetricsTags": tags,
                    "MetricsName": name,
                    "MetricsValue": {"value": value},
                }
                docs.append(Document(kind, stamp, document_id(kind, name, tag_key, when), source))
                continue
            existing = merged.get((kind, tag_key))
            if existing is None:
                existing = {TIMESTAMP_FIELDS[kind]: when, "MetricsTags": tags, "Metrics": {}}
                merged[(kind, tag_key)] = existing
                docs.append(Document(kind, stamp, document_id(kind, tag_key, when), existing))
            existing["Metrics"][name] = {"value": value}
    return docs, skipped


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_rfc3339(text).astimezone(UTC)
    except ValueError:
        return None


def event_time(event: Event, fallback: datetime) -> datetime:
    """When an event last happened: ``lastTimestamp``, else ``eventTime``, ``firstTimestamp``,
    ``metadata.creationTimestamp``, else ``fallback`` (the batch time)."""
    meta = event.get("metadata") or {}
    for candidate in (event.get("lastTimestamp"), event.get("eventTime"), event.get("firstTimestamp"),
                      meta.get("creationTimestamp")):
        parsed = _time(candidate)
        if parsed is not None:
            return parsed
    return fallback.astimezone(UTC)


def event_document(event: Event, cluster_name: str, fallback: datetime) -> Document:
    """Heapster's event document; its index date and id come from the last occurrence."""
    meta = dict(event.get("metadata") or {})
    meta.pop("managedFields", None)  # server bookkeeping, not part of Heapster's document
    meta.setdefault("creationTimestamp", None)
    involved = event.get("involvedObject") or {}
    source_obj = event.get("source") or {}
    last = event_time(event, fallback)
    first = _time(event.get("firstTimestamp")) or _time(event.get("eventTime")) or last
    tags = {"eventID": str(meta.get("uid", "")), "cluster_name": cluster_name}
    if involved.get("kind") == "Pod":
        tags["pod_id"] = str(involved.get("uid", ""))
        tags["pod_name"] = str(involved.get("name", ""))
    tags["hostname"] = str(source_obj.get("host", ""))
    source = {
        "Count": event.get("count") if event.get("count") is not None else 0,
        "Metadata": meta,
        "InvolvedObject": involved,
        "Source": source_obj,
        "FirstOccurrenceTimestamp": rfc3339(first),
        "LastOccurrenceTimestamp": rfc3339(last),
        "Message": event.get("message") or "",
        "Reason": event.get("reason") or "",
        "Type": event.get("type") or "",
        "EventTags": tags,
    }
    identity = meta.get("uid") or f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    doc_id = document_id("events", identity, source["Count"], source["LastOccurrenceTimestamp"])
    return Document("events", last, doc_id, source)


@functools.lru_cache(maxsize=256)
def daily_index(base: str, when: datetime) -> str:
    """``<base>-YYYY.MM.DD`` of ``when`` in UTC (Go layout ``heapster-2006.01.02``)."""
    return f"{base}-{when.astimezone(UTC):%Y.%m.%d}"


def alias_name(base: str, kind: str) -> str:
    """Heapster's alias (or, with data streams, the stream) of one document type."""
    return f"{base}-{kind}"
