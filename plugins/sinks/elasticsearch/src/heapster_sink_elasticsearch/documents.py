"""Heapster's Elasticsearch documents (HEAPSTER.md §8): family, general and event documents."""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from heapster import gojson
from heapster.catalogue import family
from heapster.model import DataBatch, Event
from heapster.timefmt import rfc3339

EVENTS_FAMILY = "events"
FAMILIES = ("cpu", "memory", "network", "filesystem", "general", EVENTS_FAMILY)
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
    """The documents of one batch and how many values were skipped as not finite (±Inf).

    Within one metric set, metrics of the same family with identical tags become one
    document; every ``general`` metric becomes its own document. Labeled metrics carry the
    set's labels merged with their own. ``cluster_name`` is added to every tag map. Reads the
    batch's columns: the tags of each set are made once, then each metric column in one pass.
    """
    cols = batch.columns
    stamp = batch.timestamp.astimezone(UTC)
    when = rfc3339(stamp)
    builder = _Documents(stamp, when)
    set_tags = [{**labels, "cluster_name": cluster_name} for labels in cols.labels]
    set_keys = [_tag_key(tags) for tags in set_tags]
    for name, _, rows, values in cols.metrics():
        for row, value in zip(rows, values, strict=True):
            builder.add(name, set_tags[row], set_keys[row], row, value)
    if cols.series_count:
        series_tags = [{**cols.labels[entity], **labels, "cluster_name": cluster_name}
                       for entity, labels in zip(cols.series_entity.tolist(), cols.series_labels, strict=True)]
        series_keys = [_tag_key(tags) for tags in series_tags]
        entity_of = cols.series_entity.tolist()
        for name, _, rows, values in cols.labeled_metrics():
            for series, value in zip(rows, values, strict=True):
                builder.add(name, series_tags[series], series_keys[series], entity_of[series], value)
    return builder.docs, builder.skipped


class _Documents:
    """Family documents merged per (metric set, family, tags); one document per ``general`` metric."""

    def __init__(self, stamp: datetime, when: str) -> None:
        self.stamp = stamp
        self.when = when
        self.docs: list[Document] = []
        self.skipped = 0
        self._merged: dict[tuple[int, str, str], dict[str, Any]] = {}

    def add(self, name: str, tags: dict[str, str], tag_key: str, owner: int, value: int | float) -> None:
        if not _finite(value):
            self.skipped += 1
            return
        kind = family(name)
        when = self.when
        if kind == "general":
            source = {"GeneralMetricsTimestamp": when, "MetricsTags": tags, "MetricsName": name,
                      "MetricsValue": {"value": value}}
            self.docs.append(Document(kind, self.stamp, document_id(kind, name, tag_key, when), source))
            return
        ident = (owner, kind, tag_key)
        existing = self._merged.get(ident)
        if existing is None:
            existing = self._merged[ident] = {TIMESTAMP_FIELDS[kind]: when, "MetricsTags": tags, "Metrics": {}}
            self.docs.append(Document(kind, self.stamp, document_id(kind, tag_key, when), existing))
        existing["Metrics"][name] = {"value": value}


def event_time(event: Event, fallback: datetime) -> datetime:
    """When an event last happened (:func:`heapster.gojson.event_time`), in UTC."""
    return gojson.event_time(event, fallback).astimezone(UTC)


def event_document(event: Event, cluster_name: str, fallback: datetime) -> Document:
    """Heapster's event document; its index date and id come from the last occurrence."""
    meta = dict(event.get("metadata") or {})
    meta.pop("managedFields", None)  # server bookkeeping, not part of Heapster's document
    meta.setdefault("creationTimestamp", None)
    involved = event.get("involvedObject") or {}
    source_obj = event.get("source") or {}
    last = event_time(event, fallback)
    first = gojson.event_timestamp(event, "firstTimestamp") or gojson.event_timestamp(event, "eventTime") or last
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
    doc_id = document_id(EVENTS_FAMILY, identity, source["Count"], source["LastOccurrenceTimestamp"])
    return Document(EVENTS_FAMILY, last, doc_id, source)


@functools.lru_cache(maxsize=256)
def daily_index(base: str, when: datetime) -> str:
    """``<base>-YYYY.MM.DD`` of ``when`` in UTC (Go layout ``heapster-2006.01.02``)."""
    return f"{base}-{when.astimezone(UTC):%Y.%m.%d}"


def alias_name(base: str, kind: str) -> str:
    """Heapster's alias (or, with data streams, the stream) of one document type."""
    return f"{base}-{kind}"
