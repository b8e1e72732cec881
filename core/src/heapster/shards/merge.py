"""Merging the shards' JSON answers to one route into the whole cluster's answer.

A node, and so its pods and containers, lives in exactly one shard: lists are unions, a metric's
points come from the shard that has them, item lists are concatenations.
"""

from __future__ import annotations

from typing import Any

from heapster.timefmt import ZERO_TIME

UNION = "union"
"""A JSON list of names: their union, sorted."""
POINTS = "points"
"""A MetricResult (``metrics``, ``latestTimestamp``): the points of every shard, by timestamp."""
POD_LIST_POINTS = "pod_list_points"
"""``{"items": [MetricResult, ...]}`` in the order of the requested pods: merged item by item."""
CONCAT = "concat"
"""A JSON list of objects (metric-export): concatenated (None when every shard answered None)."""
K8S_LIST = "k8s_list"
"""A metrics.k8s.io list: items concatenated, sorted by namespace and name."""
K8S_GET = "k8s_get"
"""One metrics.k8s.io object: the first shard that has it."""
AGGREGATE = "aggregate"
"""Namespace and cluster routes: answered from the combined aggregates this replica already holds."""


def union(bodies: list[Any]) -> list[str]:
    names: set[str] = set()
    for body in bodies:
        names.update(body or ())
    return sorted(names)


def points(bodies: list[Any]) -> dict[str, Any]:
    by_time: dict[str, Any] = {}
    for body in bodies:
        for point in (body or {}).get("metrics") or ():
            by_time.setdefault(point["timestamp"], point)
    latest = [b.get("latestTimestamp") for b in bodies if b and b.get("latestTimestamp") not in (None, ZERO_TIME)]
    return {"metrics": [by_time[t] for t in sorted(by_time)], "latestTimestamp": max(latest) if latest else ZERO_TIME}


def pod_list_points(bodies: list[Any]) -> dict[str, Any]:
    columns = [body.get("items") or [] for body in bodies]
    count = max((len(items) for items in columns), default=0)
    return {"items": [points([items[i] for items in columns if i < len(items)]) for i in range(count)]}


def concat(bodies: list[Any]) -> list[Any] | None:
    present = [body for body in bodies if body is not None]
    if not present:
        return None
    return [item for body in present for item in body]


def _name(item: dict[str, Any]) -> tuple[str, str]:
    meta = item.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


def k8s_list(bodies: list[Any]) -> dict[str, Any]:
    merged = dict(bodies[0])
    items = [item for body in bodies for item in body.get("items") or ()]
    if items or merged.get("items") is not None:
        merged["items"] = sorted(items, key=_name)
    return merged


MERGERS = {UNION: union, POINTS: points, POD_LIST_POINTS: pod_list_points, CONCAT: concat, K8S_LIST: k8s_list}
"""How each kind of answer merges (K8S_GET and AGGREGATE need no merging)."""

COMPACT = frozenset({POD_LIST_POINTS, CONCAT})
"""Kinds whose routes answer compact JSON (go-restful's per-route choice); the others are pretty-printed."""


def route_kind(canonical: str) -> str | None:
    """The kind of a route by its path template (aiohttp's ``resource.canonical``); None: not fanned out."""
    model = "/api/v1/model"
    if canonical.startswith(model + "/"):
        rest = canonical[len(model):]
        if rest.startswith(("/metrics", "/namespaces{", "/namespaces/{namespace}/metrics")):
            return AGGREGATE
        if "/pod-list/" in rest:
            return POD_LIST_POINTS
        if "/metrics/{metric" in rest:
            return POINTS
        return UNION
    if canonical.startswith("/api/v1/metric-export{"):
        return CONCAT
    for base in ("/apis/metrics.k8s.io/v1beta1", "/apis/metrics.k8s.io/v1alpha1", "/apis/metrics/v1alpha1"):
        if canonical.startswith(base + "/"):
            rest = canonical[len(base):]
            if rest.startswith(("/nodes/{node}", "/namespaces/{namespace}/pods/{pod}")):
                return K8S_GET
            if rest.startswith(("/nodes{", "/pods{", "/namespaces/{namespace}/pods{")):
                return K8S_LIST
    return None
