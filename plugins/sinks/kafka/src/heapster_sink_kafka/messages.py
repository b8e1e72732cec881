"""Heapster's Kafka messages: one JSON document per metric value and per event, byte for byte as Go wrote them.

Metric message (``metrics/sinks/kafka``): ``{"MetricsName":..,"MetricsValue":{"value":..},
"MetricsTimestamp":..,"MetricsTags":{..}}`` with the batch time in UTC and the metric set's labels
(plus a labeled metric's own labels). Event message (``events/sinks/kafka``): ``{"EventValue":
<the event as indented JSON text>,"EventTimestamp":<lastTimestamp>,"EventTags":{"eventID",
"hostname", and for pods "pod_id", "pod_name"}}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from heapster.gojson import event_json, event_timestamp, go_float, go_json, go_string
from heapster.model import DataBatch, Event
from heapster.timefmt import rfc3339


def metric_message(name: str, value: int | float, timestamp: str, tags: dict[str, str]) -> bytes:
    """One metric value as Heapster's ``KafkaSinkPoint`` JSON; ``ValueError`` for NaN/Inf (Go refused them)."""
    return _message(go_string(name).encode(), value, _suffix(timestamp, tags))


def _suffix(timestamp: str, tags: dict[str, str]) -> bytes:
    return f',"MetricsTimestamp":"{timestamp}","MetricsTags":{go_json(tags)}}}'.encode()


def _message(quoted_name: bytes, value: int | float, suffix: bytes) -> bytes:
    number = go_float(value) if isinstance(value, float) else str(value)
    return b'{"MetricsName":' + quoted_name + b',"MetricsValue":{"value":' + number.encode() + b"}" + suffix


def metric_messages(batch: DataBatch) -> Iterator[bytes | None]:
    """Every value of the batch as a message; ``None`` for a value Go could not encode (infinite).

    Reads the batch's columns: the tags of each metric set (and labeled series) are encoded once,
    each metric name once, then every metric in one pass.
    """
    cols = batch.columns
    timestamp = rfc3339(batch.timestamp)
    set_suffix = [_suffix(timestamp, labels) for labels in cols.labels]
    yield from _column_messages(cols.metrics(), set_suffix)
    if cols.series_count:
        series_suffix = [_suffix(timestamp, {**cols.labels[entity], **labels})
                         for entity, labels in zip(cols.series_entity.tolist(), cols.series_labels, strict=True)]
        yield from _column_messages(cols.labeled_metrics(), series_suffix)


def _column_messages(metrics: Iterable[tuple[str, Any, list[int], list[int | float]]],
                     suffixes: list[bytes]) -> Iterator[bytes | None]:
    for name, _, rows, values in metrics:
        quoted = go_string(name).encode()
        for row, value in zip(rows, values, strict=True):
            try:
                yield _message(quoted, value, suffixes[row])
            except ValueError:
                yield None


def event_tags(event: Event) -> dict[str, str]:
    """``eventID``, ``hostname`` and, for a pod, ``pod_id`` and ``pod_name``."""
    involved = event.get("involvedObject") or {}
    tags = {"eventID": str((event.get("metadata") or {}).get("uid") or "")}
    if involved.get("kind") == "Pod":
        tags["pod_id"] = str(involved.get("uid") or "")
        tags["pod_name"] = str(involved.get("name") or "")
    tags["hostname"] = str((event.get("source") or {}).get("host") or "")
    return tags


def event_message(event: Event) -> bytes:
    """One event as Heapster's event ``KafkaSinkPoint`` JSON (zero time when ``lastTimestamp`` is unset)."""
    last: datetime | None = event_timestamp(event, "lastTimestamp")
    return (f'{{"EventValue":{go_string(event_json(event))},"EventTimestamp":"{rfc3339(last)}",'
            f'"EventTags":{go_json(event_tags(event))}}}').encode()
