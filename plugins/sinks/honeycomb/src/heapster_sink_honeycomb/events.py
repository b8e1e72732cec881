"""Honeycomb events as Heapster built them (``metrics/sinks/honeycomb``, ``events/sinks/honeycomb``).

Metric set: one event whose fields are the set's metric values (except Heapster's blacklist of
cumulative counters) and its labels, at the batch time. Labeled metrics were not sent by Heapster.
Kubernetes event: one event with ``namespace``, ``kind``, ``name``, ``subobject``,
``source.component``, ``source.host``, ``count``, ``type``, ``reason``, ``message`` at ``lastTimestamp``.

Each item of the batch request is ``{"data": {...}, "time": "<RFC 3339>"}``: the field names of
Honeycomb's batch API. (Heapster's Go struct marshalled them as ``Data`` and ``Timestamp``; Honeycomb
read ``Data`` case-insensitively and ignored ``Timestamp``, so its events got the arrival time. Here
the intended timestamp is kept.)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime

from heapster.gojson import event_timestamp, go_json, go_string
from heapster.model import DataBatch, Event
from heapster.timefmt import rfc3339

BLACKLIST = frozenset({"cpu/usage", "memory/major_page_faults", "memory/page_faults", "network/rx_errors",
                       "network/rx", "network/tx_errors", "network/tx"})
"""Cumulative metrics Heapster left out ("more confusing than helpful")."""


def item(data_json: str, time: datetime | None) -> str:
    """One element of the batch request body."""
    return f'{{"data":{data_json},"time":"{rfc3339(time)}"}}'


def metric_items(batch: DataBatch) -> Iterator[tuple[str, int]]:
    """One batch item per metric set, with how many values were left out as infinite.

    Reads the batch's columns: each metric column is spread over the sets' field maps in one pass.
    """
    cols = batch.columns
    data: list[dict[str, object]] = [{} for _ in range(len(cols))]
    skipped = [0] * len(cols)
    for name, _, rows, values in cols.metrics():
        if name in BLACKLIST:
            continue
        for row, value in zip(rows, values, strict=True):
            if isinstance(value, float) and not math.isfinite(value):
                skipped[row] += 1
            else:
                data[row][name] = value
    for row, labels in enumerate(cols.labels):
        data[row].update(labels)
        yield item(go_json(data[row]), batch.timestamp), skipped[row]


_EVENT_FIELDS = ("namespace", "kind", "name", "subobject", "source.component", "source.host", "count", "type",
                 "reason", "message")


def event_data(event: Event) -> dict[str, str | int]:
    """Heapster's ``exportedData`` of one Kubernetes event."""
    involved = event.get("involvedObject") or {}
    source = event.get("source") or {}
    return {
        "namespace": str(involved.get("namespace") or ""),
        "kind": str(involved.get("kind") or ""),
        "name": str(involved.get("name") or ""),
        "subobject": str(involved.get("fieldPath") or ""),
        "source.component": str(source.get("component") or ""),
        "source.host": str(source.get("host") or ""),
        "count": int(event.get("count") or 0),
        "type": str(event.get("type") or ""),
        "reason": str(event.get("reason") or ""),
        "message": str(event.get("message") or ""),
    }


def event_item(event: Event) -> str:
    """One Kubernetes event as a batch item (fields in Heapster's struct order)."""
    data = event_data(event)
    fields = ",".join(f"{go_string(k)}:{go_json(data[k])}" for k in _EVENT_FIELDS)
    return item("{" + fields + "}", event_timestamp(event, "lastTimestamp"))
