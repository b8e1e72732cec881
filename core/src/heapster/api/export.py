"""``/api/v1/metric-export`` and ``/api/v1/metric-export-schema`` (HEAPSTER.md §6.4)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from heapster import keys
from heapster.api.instrument import Handler
from heapster.api.responses import json_response
from heapster.catalogue import (
    ADDITIONAL_METRICS,
    COMMON_LABELS,
    CONTAINER_LABELS,
    LABELED_METRICS,
    POD_LABELS,
    STANDARD_METRICS,
)
from heapster.model import MetricType
from heapster.store import MetricStore
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


def routes(store: MetricStore | None, disable_export: bool) -> list[tuple[str, str, Handler]]:
    """``(path, operation, handler)`` of the two export routes."""

    async def export_metrics(request: web.Request) -> web.Response:
        if disable_export:
            return json_response([], pretty=False)
        return json_response(timeseries(store) if store is not None else None, pretty=False)

    async def export_schema(request: web.Request) -> web.Response:
        return json_response(schema())

    return [
        ("/api/v1/metric-export{_slash:/?}", "exportMetrics", export_metrics),
        ("/api/v1/metric-export-schema{_slash:/?}", "exportmetricsSchema", export_schema),
    ]
