"""``/api/v1/metric-export`` and ``/api/v1/metric-export-schema`` (HEAPSTER.md §6.4)."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import compress
from operator import itemgetter
from typing import Any

import numpy as np
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
    with store.reading():  # the timestamp of the batch the sets come from (another thread may write)
        stamp = store.latest_timestamp
        if stamp is None:
            return None
        latest_sets = store.latest_sets(EXPORTED_TYPES)
    end = rfc3339(stamp)
    out = []
    for latest in latest_sets.values():
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
        out.append({"metrics": dict(sorted(metrics.items())), "labels": dict(sorted(labels.items()))})
    return out


def timeseries_json(store: MetricStore) -> bytes:
    """:func:`timeseries` as the route sends it (go-restful's compact JSON), built from the store's columns.

    Byte for byte what ``go_json(timeseries(store), pretty=False)`` gives, without a dict per point: the
    values of a column are serialized by one ``orjson`` call, each column gives every entity one ready
    ``"name":[...]`` fragment, and an entity's document joins its fragments in column order.
    """
    with store.reading():  # the timestamp of the batch the columns come from (another thread may write)
        stamp = store.latest_timestamp
        if stamp is None:
            return go_json(None, pretty=False)
        latest = store.latest_columns(EXPORTED_METRICS, EXPORTED_TYPES)
    names = [name for name, *_ in latest.metrics]
    if len(set(names)) != len(names):  # a name both plain and labeled: its points share one list
        return go_json(timeseries(store), pretty=False)
    count = len(latest.entities)
    row_of = np.full(max(latest.entities, default=0) + 1, -1, dtype=np.int64)
    row_of[latest.entities] = np.arange(count)
    end = orjson.dumps(rfc3339(stamp))
    span = b',"end":' + end
    starts = _start_texts(latest.starts)
    fragments: list[list[bytes | None]] = []
    for name, metric_type, owners, values, labels in sorted(latest.metrics, key=itemgetter(0)):  # Go sorts map keys
        key = orjson.dumps(name) + b':[{"start":'
        cumulative = metric_type == MetricType.CUMULATIVE
        found = np.asarray(owners, dtype=np.int64)
        rows = np.where(found < len(row_of), row_of[np.minimum(found, len(row_of) - 1)], -1)
        kept = (rows >= 0).tolist()
        texts = list(compress(orjson.dumps(values)[1:-1].split(b","), kept)) if values else []
        rows_kept = rows[rows >= 0].tolist()
        column: list[bytes | None] = [None] * count
        if labels is None:
            if cumulative:
                for row, text in zip(rows_kept, texts, strict=True):
                    column[row] = key + starts[row] + span + b',"value":' + text + b"}]"
            else:
                head = key + end + span + b',"value":'
                for row, text in zip(rows_kept, texts, strict=True):
                    column[row] = head + text + b"}]"
        else:
            encoded: dict[LabelTuple, bytes] = {}
            points: dict[int, list[bytes]] = {}
            for row, text, label_set in zip(rows_kept, texts, compress(labels, kept), strict=True):
                label_json = encoded.get(label_set)
                if label_json is None:
                    label_json = encoded[label_set] = orjson.dumps(label_dict(label_set), option=orjson.OPT_SORT_KEYS)
                point = (starts[row] if cumulative else end) + span + b',"labels":' + label_json + b',"value":' + text
                points.setdefault(row, []).append(point)
            for row, found_points in points.items():
                column[row] = key + b'},{"start":'.join(found_points) + b"}]"
        fragments.append(column)
    documents = []
    known = _LABELS_JSON.copy()
    _LABELS_JSON.clear()
    rows_fragments = zip(*fragments, strict=True) if fragments else iter([()] * count)
    for parts, entity_labels in zip(rows_fragments, latest.labels, strict=True):
        held = known.get(id(entity_labels))
        label_json = held[1] if held is not None and held[0] is entity_labels else _entity_labels(entity_labels)
        _LABELS_JSON[id(entity_labels)] = (entity_labels, label_json)
        body = b",".join([part for part in parts if part is not None])
        documents.append(b'{"metrics":{' + body + b'},"labels":' + label_json + b"}")
    return go_escape(b"[" + b",".join(documents) + b"]\n")


def _start_texts(starts: list[int]) -> list[bytes]:
    """The JSON string of each entity's collection start (entities of one pod mostly share one)."""
    texts: dict[int, bytes] = {}
    out = []
    for ns in starts:
        text = texts.get(ns)
        if text is None:
            text = texts[ns] = orjson.dumps(rfc3339(None if ns == MISSING else from_ns(ns)))
        out.append(text)
    return out


_LABELS_JSON: dict[int, tuple[Mapping[str, str], bytes]] = {}
"""Exported labels of the entities of the last export, as JSON, by the ``id`` of the store's label dict (held
here, so the id stays its own; an entity keeps its label dict while its labels do not change)."""


def _entity_labels(found: Mapping[str, str]) -> bytes:
    """The exported labels of an entity as JSON."""
    exported = {k: v for k, v in found.items() if k in EXPORTED_LABELS}
    kind = found.get("type", "")
    if kind in _CONTAINER_NAME:
        exported["container_name"] = _CONTAINER_NAME[kind]
    return orjson.dumps(exported, option=orjson.OPT_SORT_KEYS)


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
