"""``/api/v1/metric-export`` and ``/api/v1/metric-export-schema`` (HEAPSTER.md §6.4)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from heapster import keys
from heapster.api.instrument import Handler
from heapster.api.responses import go_escape, go_json, json_response
from heapster.catalogue import (
    ADDITIONAL_METRICS,
    COMMON_LABELS,
    CONTAINER_LABELS,
    LABELED_METRICS,
    POD_LABELS,
    STANDARD_METRICS,
)
from heapster.columns import MISSING, from_ns
from heapster.model import MetricType
from heapster.store import MetricStore
from heapster.store.owners import LabelTuple, label_dict
from heapster.timefmt import rfc3339

EXPORTED_TYPES = frozenset({keys.NODE, keys.POD, keys.POD_CONTAINER, keys.SYS_CONTAINER})
_ADDITIONAL = ("cpu/limit", "memory/limit")
SCHEMA_METRICS = (
    *STANDARD_METRICS,
    *(d for d in ADDITIONAL_METRICS if d.name in _ADDITIONAL),
    *LABELED_METRICS,
)
EXPORTED_METRICS = frozenset(d.name for d in SCHEMA_METRICS)
EXPORTED_LABELS = frozenset(d.key for d in (*COMMON_LABELS, *CONTAINER_LABELS, *POD_LABELS))
_CONTAINER_NAME = {keys.NODE: "machine", keys.POD: "/pod"}


def schema() -> dict[str, Any]:
    """The TimeseriesSchema JSON."""
    return {
        "metrics": [d.to_json() for d in SCHEMA_METRICS],
        "common_labels": [{"key": d.key, "description": d.description} for d in (*COMMON_LABELS, *CONTAINER_LABELS)],
        "pod_labels": [{"key": d.key, "description": d.description} for d in POD_LABELS],
    }


def timeseries(store: MetricStore) -> list[dict[str, Any]] | None:
    """One Timeseries per node, pod, container and system container of the newest batch (None before any)."""
    stamp = store.latest_timestamp
    if stamp is None:
        return None
    end = rfc3339(stamp)
    out = []
    for latest in store.latest_sets(EXPORTED_TYPES).values():
        kind = latest.labels.get("type", "")
        labels = {k: v for k, v in latest.labels.items() if k in EXPORTED_LABELS}
        if kind in _CONTAINER_NAME:
            labels["container_name"] = _CONTAINER_NAME[kind]
        start = rfc3339(latest.collection_start)
        metrics: dict[str, list[dict[str, Any]]] = {}
        for name, (value, metric_type) in latest.values.items():
            if name in EXPORTED_METRICS:
                metrics.setdefault(name, []).append({
                    "start": start if metric_type == MetricType.CUMULATIVE else end, "end": end, "value": value,
                })
        for name, point_labels, value, metric_type in latest.labeled:
            if name in EXPORTED_METRICS:
                metrics.setdefault(name, []).append({
                    "start": start if metric_type == MetricType.CUMULATIVE else end, "end": end,
                    "labels": point_labels, "value": value,
                })
        out.append({"metrics": metrics, "labels": labels})
    return out


def timeseries_json(store: MetricStore) -> bytes:
    """:func:`timeseries` as the route sends it (go-restful's compact JSON), built from the store's columns.

    Byte for byte what ``go_json(timeseries(store), pretty=False)`` gives, without a dict per point: values
    are serialized one column at a time and the documents assembled from cached fragments.
    """
    stamp = store.latest_timestamp
    if stamp is None:
        return go_json(None, pretty=False)
    latest = store.latest_columns(EXPORTED_METRICS, EXPORTED_TYPES)
    end = orjson.dumps(rfc3339(stamp))
    row_of = {eid: row for row, eid in enumerate(latest.entities)}
    starts: dict[int, bytes] = {}
    point_labels: dict[LabelTuple, bytes] = {}
    points: list[dict[bytes, list[bytes]]] = [{} for _ in latest.entities]
    span = b',"end":' + end
    for name, metric_type, owners, values, labels in latest.metrics:
        key = orjson.dumps(name)
        cumulative = metric_type == MetricType.CUMULATIVE
        texts = orjson.dumps(values)[1:-1].split(b",") if values else []
        for cell, owner in enumerate(owners):
            row = row_of.get(owner)
            if row is None:
                continue
            if cumulative:
                ns = latest.starts[row]
                start = starts.get(ns)
                if start is None:
                    start = starts[ns] = orjson.dumps(rfc3339(None if ns == MISSING else from_ns(ns)))
            else:
                start = end
            if labels is None:
                point = b'{"start":' + start + span + b',"value":' + texts[cell] + b"}"
            else:
                label_set = labels[cell]
                encoded = point_labels.get(label_set)
                if encoded is None:
                    encoded = point_labels[label_set] = orjson.dumps(label_dict(label_set))
                point = b'{"start":' + start + span + b',"labels":' + encoded + b',"value":' + texts[cell] + b"}"
            found = points[row].get(key)
            if found is None:
                points[row][key] = [point]
            else:
                found.append(point)
    documents = []
    known = _LABELS_JSON.copy()
    _LABELS_JSON.clear()
    for metrics, entity_labels in zip(points, latest.labels, strict=True):
        encoded = known.get(entity_labels)
        if encoded is None:
            encoded = _entity_labels(entity_labels)
        _LABELS_JSON[entity_labels] = encoded
        body = b",".join(key + b":[" + b",".join(found) + b"]" for key, found in metrics.items())
        documents.append(b'{"metrics":{' + body + b'},"labels":' + encoded + b"}")
    return go_escape(b"[" + b",".join(documents) + b"]\n")


_LABELS_JSON: dict[LabelTuple, bytes] = {}
"""Exported labels of the entities of the last export, as JSON (an entity's labels rarely change)."""


def _entity_labels(labels: LabelTuple) -> bytes:
    """The exported labels of an entity as JSON."""
    found = label_dict(labels)
    exported = {k: v for k, v in found.items() if k in EXPORTED_LABELS}
    kind = found.get("type", "")
    if kind in _CONTAINER_NAME:
        exported["container_name"] = _CONTAINER_NAME[kind]
    return orjson.dumps(exported)


def routes(store: MetricStore | None, disable_export: bool) -> list[tuple[str, str, Handler]]:
    """``(path, operation, handler)`` of the two export routes."""

    async def export_metrics(request: web.Request) -> web.Response:
        if disable_export:
            return json_response([], pretty=False)
        if store is None:
            return json_response(None, pretty=False)
        return web.Response(body=timeseries_json(store), content_type="application/json")

    async def export_schema(request: web.Request) -> web.Response:
        return json_response(schema())

    return [
        ("/api/v1/metric-export{_slash:/?}", "exportMetrics", export_metrics),
        ("/api/v1/metric-export-schema{_slash:/?}", "exportmetricsSchema", export_schema),
    ]
