"""The historical API (HEAPSTER.md §6.5): Model API routes plus aggregations, answered by InfluxQL.

The core HTTP API mounts :func:`build_app`'s application under ``/api/v1/historical``.
Pod-id routes resolve a pod UID through the ``heapster_pod_ids`` measurement the metric sink
writes (one point per pod per batch), so metric points keep Heapster's tag set without ``pod_id``
and the UID lookup is also limited to the time the pod existed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from heapster.api.params import BadRequest
from heapster.api.params import parse_labels as parse_label_pairs
from heapster.api.responses import json_response
from heapster.catalogue import DEPRECATED_ALIASES
from heapster.errors import HeapsterError
from heapster.gotext import go_quote, parse_uint64
from heapster.timefmt import ZERO_TIME, epoch_nanos, parse_go_rfc3339, utc_from_epoch
from heapster_sink_influxdb import influxql
from heapster_sink_influxdb.admin import InfluxAdmin
from heapster_sink_influxdb.config import InfluxConfig
from heapster_sink_influxdb.influxql import AGGREGATIONS, InvalidName, ObjectKey
from heapster_sink_influxdb.lineproto import (
    CLUSTER_TAG,
    EVENTS_MEASUREMENT,
    POD_ID_MEASUREMENT,
    VALUE_FIELD,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
QueryRunner = Callable[[list[str]], Awaitable[list[dict[str, Any]]]]
"""Runs InfluxQL statements; one result dict (``series`` ...) per statement."""

_BUCKET_NS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}
_NOT_METRICS = frozenset({POD_ID_MEASUREMENT, EVENTS_MEASUREMENT, "events"})
_PERCENTILES = {"50-perc": "50", "95-perc": "95", "99-perc": "99"}
_AGGREGATE_KEYS = {"average": "average", "max": "maximum", "min": "minimum", "median": "median"}
_ALWAYS_FLOAT = frozenset({"average", "median"})
_BUCKET_FIELDS = ("timestamp", "count", "average", "maximum", "minimum", "median", "percentiles")
"""Heapster's MetricAggregationBucket field order."""


def rfc3339_ns(ns: int) -> str:
    """RFC 3339 as Go renders ``time.Time`` JSON, keeping nanoseconds (trailing zeros trimmed)."""
    seconds, frac = divmod(ns, 10**9)
    text = utc_from_epoch(seconds).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += f".{frac:09d}".rstrip("0")
    return text + "Z"


@dataclass(frozen=True, slots=True)
class TimeRange:
    """An inclusive time range in nanoseconds since the epoch."""

    start: int
    end: int


def parse_time_range(request: web.Request) -> TimeRange:
    """``start`` (mandatory, RFC 3339) and ``end`` (default now); 400 on a bad or missing start."""
    values: dict[str, tuple[datetime, int] | None] = {}
    for name in ("start", "end"):
        raw = request.query.get(name, "")
        try:
            values[name] = parse_go_rfc3339(raw) if raw else None
        except ValueError as exc:
            raise _bad_request(f"timestamp argument cannot be parsed: {exc}") from None
    start = values["start"]
    if start is None or (start[0].timestamp() <= -62135596800 and not start[1]):
        raise _bad_request("no start time (or a start time of zero) provided")
    end = values["end"]
    end_ns = epoch_nanos(end[0]) + end[1] if end is not None else time.time_ns()
    return TimeRange(epoch_nanos(start[0]) + start[1], end_ns)


def parse_labels(request: web.Request) -> dict[str, str] | None:
    """The ``labels=k:v,k2:v2`` parameter as the Model API reads it (Heapster's one ``getLabels``); 400 on an
    empty key or value."""
    try:
        return parse_label_pairs(request.query.get("labels"))
    except BadRequest as exc:
        raise _bad_request(str(exc)) from None


def parse_bucket(request: web.Request) -> int:
    """The ``bucket`` parameter in nanoseconds (0 when absent) as Heapster's ``getBucketSize`` reads it: a
    decimal count and ms, s, m, h or d, with its messages; the count times the unit wraps as Go's int64 does."""
    raw = request.query.get("bucket", "")
    if not raw:
        return 0
    if len(raw) < 2:
        raise _bad_request(f"unable to parse bucket size: {go_quote(raw)} is too short to be a duration")
    unit = "ms" if raw.endswith("ms") and len(raw) >= 3 else raw[-1]
    if unit not in _BUCKET_NS:
        raise _bad_request(f"unable to parse bucket size: {go_quote(raw)} has no known duration suffix")
    try:
        count = parse_uint64(raw[:-len(unit)])
    except ValueError as exc:
        raise _bad_request(str(exc)) from None
    return (count * _BUCKET_NS[unit] + (1 << 63)) % (1 << 64) - (1 << 63)


def parse_aggregations(request: web.Request) -> list[str]:
    names = request.match_info["aggregations"].split(",")
    for name in names:
        if name not in AGGREGATIONS:
            raise _bad_request(f"Unknown aggregation {go_quote(name)}")
    return names


def _bad_request(text: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=text)


def _json(data: object, *, pretty: bool = True) -> web.Response:
    return json_response(data, pretty=pretty)  # go-restful's layout, as the Model API


@dataclass(frozen=True, slots=True)
class Resolved:
    """An object key ready to query, with the time range it may be queried over."""

    key: ObjectKey
    span: TimeRange


def v1_runner(admin: InfluxAdmin) -> QueryRunner:
    """InfluxDB 1.x: all statements in one ``/query`` request, through the client in a thread."""

    async def run(statements: list[str]) -> list[dict[str, Any]]:
        return await asyncio.to_thread(admin.query, "; ".join(statements)) if statements else []

    return run


class HistoricalBackend:
    """Answers historical questions with InfluxQL over one sink's database (or bucket)."""

    def __init__(self, config: InfluxConfig, run: QueryRunner) -> None:
        self.config = config
        self._run = run
        self._field_types: dict[tuple[str, str], str] = {}

    async def query(self, *statements: str) -> list[dict[str, Any]]:
        return await self._run(list(statements))

    def measurement_and_field(self, metric: str) -> tuple[str, str]:
        if self.config.with_fields:
            measurement, sep, field = metric.partition("/")
            return measurement, (field if sep else VALUE_FIELD)
        return metric, VALUE_FIELD

    async def field_type(self, measurement: str, field: str) -> str:
        """``integer``, ``float``, ... as InfluxDB stored the field; cached once known."""
        found = self._field_types.get((measurement, field))
        if found is None:
            results = await self.query(f"SHOW FIELD KEYS FROM {influxql.ident(measurement)}")
            for series in results[0].get("series", []):
                for name, kind in series.get("values", []):
                    self._field_types[(measurement, name)] = kind
            found = self._field_types.get((measurement, field), "float")
        return found

    async def tag_values(self, tag: str, where: str) -> list[str]:
        results = await self.query(f"SHOW TAG VALUES WITH KEY = {influxql.ident(tag)} WHERE {where}")
        values = {row[1] for series in results[0].get("series", []) for row in series.get("values", [])}
        return sorted(values)

    def _cluster(self) -> str:
        return f"{influxql.ident(CLUSTER_TAG)} = {influxql.literal(self.config.cluster_name)}"

    async def nodes(self) -> list[str]:
        return await self.tag_values("nodename", f"\"type\" = 'node' AND {self._cluster()}")

    async def namespaces(self) -> list[str]:
        return await self.tag_values("namespace_name", f"\"type\" =~ /^(ns|pod|pod_container)$/ AND {self._cluster()}")

    async def pods(self, namespace: str) -> list[str]:
        key = ObjectKey("pod", namespace=namespace)
        key.check()
        where = f"\"type\" = 'pod' AND \"namespace_name\" = {influxql.literal(namespace)} AND {self._cluster()}"
        return await self.tag_values("pod_name", where)

    async def pod_containers(self, namespace: str, pod: str) -> list[str]:
        ObjectKey("pod", namespace=namespace, pod=pod).check()
        where = (f"\"type\" = 'pod_container' AND \"namespace_name\" = {influxql.literal(namespace)} "
                 f"AND \"pod_name\" = {influxql.literal(pod)} AND {self._cluster()}")
        return await self.tag_values("container_name", where)

    async def free_containers(self, node: str) -> list[str]:
        ObjectKey("node", node=node).check()
        where = f"\"type\" = 'sys_container' AND \"nodename\" = {influxql.literal(node)} AND {self._cluster()}"
        return await self.tag_values("container_name", where)

    async def metric_names(self, key: ObjectKey) -> list[str]:
        """Metrics stored for one object (``measurement/field`` in withfields mode)."""
        key.check()
        where = influxql.selector(key, self.config.cluster_name)
        results = await self.query(f"SHOW MEASUREMENTS WHERE {where}")
        measurements = sorted({row[0] for series in results[0].get("series", [])
                               for row in series.get("values", [])} - _NOT_METRICS)
        if not self.config.with_fields or not measurements:
            return measurements
        sources = ", ".join(influxql.ident(m) for m in measurements)
        results = await self.query(f"SELECT LAST(*) FROM {sources} WHERE {where}")
        names: set[str] = set()
        for series in results[0].get("series", []):
            row = series["values"][0] if series.get("values") else []
            for column, value in zip(series["columns"], row, strict=False):
                if column.startswith("last_") and value is not None:
                    field = column[len("last_"):]
                    names.add(series["name"] if field == VALUE_FIELD else f"{series['name']}/{field}")
        return sorted(names)

    async def resolve(self, key: ObjectKey, span: TimeRange) -> Resolved | None:
        """Turn a pod-id key into a namespace/name key, clipped to the pod's lifetime; None if unknown."""
        key.check()
        if not key.pod_id:
            return Resolved(key, span)
        first, last = (_first_row(result) for result in
                       await self.query(*influxql.pod_id_queries(key.pod_id, self.config.cluster_name)))
        if first is None or last is None:
            return None
        first_ns, last_ns = first["time"], last["time"]
        resolved = ObjectKey(key.type, namespace=str(first.get("namespace_name") or ""),
                             pod=str(first.get("pod_name") or ""), container=key.container)
        start, end = max(span.start, int(first_ns)), min(span.end, int(last_ns))
        if start > end:
            return None
        return Resolved(resolved, TimeRange(start, end))

    async def _run_per_key(self, keys: list[ObjectKey], span: TimeRange,
                           statement: Callable[[Resolved], str]) -> list[list[list[Any]]]:
        """Run one statement per key in a single request; rows per key (empty for unknown pods)."""
        resolved = [await self.resolve(key, span) for key in keys]
        statements = [statement(r) for r in resolved if r is not None]
        results = await self.query(*statements)
        out: list[list[list[Any]]] = []
        answers = iter(results)
        for item in resolved:
            if item is None:
                out.append([])
                continue
            series = next(answers, {}).get("series", [])
            rows = sorted((row for s in series for row in s.get("values", [])), key=lambda row: row[0])
            out.append(rows)
        return out

    def _where(self, r: Resolved, labels: dict[str, str] | None) -> str:
        return (influxql.selector(r.key, self.config.cluster_name) + influxql.label_predicate(labels or {})
                + influxql.time_predicate(r.span.start, r.span.end))

    async def metric(self, metric: str, keys: list[ObjectKey], span: TimeRange,
                     labels: dict[str, str] | None) -> list[dict[str, Any]]:
        """One Model-API ``MetricResult`` per key."""
        influxql.check_metric_name(metric)
        influxql.check_labels(labels or {})
        measurement, field = self.measurement_and_field(metric)
        rows_per_key = await self._run_per_key(
            keys, span, lambda r: influxql.raw_query(measurement, field, self._where(r, labels)))
        is_int = await self.field_type(measurement, field) == "integer"
        results = []
        for rows in rows_per_key:
            points = [{"timestamp": rfc3339_ns(ts), "value": _typed(value, is_int)}
                      for ts, value in rows if value is not None]
            latest = rfc3339_ns(rows[-1][0]) if rows else ZERO_TIME
            results.append({"metrics": points, "latestTimestamp": latest})
        return results

    async def aggregation(self, metric: str, aggregations: list[str], keys: list[ObjectKey], span: TimeRange,
                          labels: dict[str, str] | None, bucket_ns: int) -> list[dict[str, Any]]:
        """One ``MetricAggregationResult`` per key."""
        influxql.check_metric_name(metric)
        influxql.check_labels(labels or {})
        measurement, field = self.measurement_and_field(metric)
        rows_per_key = await self._run_per_key(
            keys, span,
            lambda r: influxql.aggregate_query(measurement, field, aggregations, self._where(r, labels), bucket_ns))
        is_int = await self.field_type(measurement, field) == "integer"
        return [{"buckets": [_bucket(row, aggregations, is_int) for row in rows], "bucketSize": bucket_ns}
                for rows in rows_per_key]


def _first_row(result: dict[str, Any]) -> dict[str, Any] | None:
    """The first row of a statement's answer as ``{column: value}``; None when it found nothing."""
    series: Sequence[dict[str, Any]] = result.get("series") or []
    if not series or not series[0].get("values"):
        return None
    return dict(zip(series[0]["columns"], series[0]["values"][0], strict=False))


def _typed(value: Any, is_int: bool) -> int | float:
    return int(value) if is_int else float(value)


def _metric_value(value: Any, is_int: bool) -> dict[str, int | float]:
    return {"intValue": int(value)} if is_int else {"floatValue": float(value)}


def _bucket(row: list[Any], aggregations: list[str], is_int: bool) -> dict[str, Any]:
    bucket: dict[str, Any] = {"timestamp": rfc3339_ns(row[0])}
    percentiles: dict[str, dict[str, int | float]] = {}
    for name, value in zip(aggregations, row[1:], strict=False):
        if value is None:
            continue
        if name == "count":
            bucket["count"] = int(value)
        elif name in _PERCENTILES:
            percentiles[_PERCENTILES[name]] = _metric_value(value, is_int)
        else:
            bucket[_AGGREGATE_KEYS[name]] = _metric_value(value, is_int and name not in _ALWAYS_FLOAT)
    if percentiles:
        bucket["percentiles"] = dict(sorted(percentiles.items()))  # a Go map: keys sorted
    return {key: bucket[key] for key in _BUCKET_FIELDS if key in bucket}


def _metric_name(request: web.Request) -> str:
    name = request.match_info["metric"].strip("/")
    return DEPRECATED_ALIASES.get(name, name)


def _key(request: web.Request, kind: str) -> ObjectKey:
    info = request.match_info
    return ObjectKey(kind, node=info.get("node", ""), namespace=info.get("namespace", ""),
                     pod=info.get("pod", ""), container=info.get("container", ""), pod_id=info.get("pod_id", ""))


def _list_keys(request: web.Request) -> list[ObjectKey]:
    info = request.match_info
    if "pod_ids" in info:
        return [ObjectKey("pod", pod_id=p) for p in info["pod_ids"].split(",")]
    return [ObjectKey("pod", namespace=info["namespace"], pod=p) for p in info["pods"].split(",")]


def _guarded(handler: Handler) -> Handler:
    """Bad names -> 400, InfluxDB trouble -> 500 (plain text, as Heapster)."""

    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except InvalidName as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        except HeapsterError as exc:
            raise web.HTTPInternalServerError(text=str(exc)) from None

    return wrapper


class HistoricalRoutes:
    """aiohttp handlers for every historical route."""

    def __init__(self, backend: HistoricalBackend) -> None:
        self.backend = backend

    def names(self, kind: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return _json(await self.backend.metric_names(_key(request, kind)))

        return handler

    def metric(self, kind: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            span, labels = parse_time_range(request), parse_labels(request)
            result = await self.backend.metric(_metric_name(request), [_key(request, kind)], span, labels)
            return _json(result[0])

        return handler

    def aggregated(self, kind: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            span, labels, bucket = parse_time_range(request), parse_labels(request), parse_bucket(request)
            aggregations = parse_aggregations(request)
            result = await self.backend.aggregation(
                _metric_name(request), aggregations, [_key(request, kind)], span, labels, bucket)
            return _json(result[0])

        return handler

    async def pod_list_metric(self, request: web.Request) -> web.StreamResponse:
        span, labels = parse_time_range(request), parse_labels(request)
        items = await self.backend.metric(_metric_name(request), _list_keys(request), span, labels)
        return _json({"items": items}, pretty=False)

    async def pod_list_aggregated(self, request: web.Request) -> web.StreamResponse:
        span, labels, bucket = parse_time_range(request), parse_labels(request), parse_bucket(request)
        aggregations = parse_aggregations(request)
        items = await self.backend.aggregation(
            _metric_name(request), aggregations, _list_keys(request), span, labels, bucket)
        return _json({"items": items}, pretty=False)

    async def nodes(self, request: web.Request) -> web.StreamResponse:
        return _json(await self.backend.nodes())

    async def namespaces(self, request: web.Request) -> web.StreamResponse:
        return _json(await self.backend.namespaces())

    async def pods(self, request: web.Request) -> web.StreamResponse:
        return _json(await self.backend.pods(request.match_info["namespace"]))

    async def pod_containers(self, request: web.Request) -> web.StreamResponse:
        info = request.match_info
        return _json(await self.backend.pod_containers(info["namespace"], info["pod"]))

    async def free_containers(self, request: web.Request) -> web.StreamResponse:
        return _json(await self.backend.free_containers(request.match_info["node"]))


_METRIC = "{metric:.+}"
_AGGREGATED = "metrics-aggregated/{aggregations}/" + _METRIC


def build_app(config: InfluxConfig, run: QueryRunner) -> web.Application:
    """The historical API as an aiohttp application, to mount under ``/api/v1/historical``."""
    routes = HistoricalRoutes(HistoricalBackend(config, run))
    app = web.Application()

    def get(path: str, handler: Handler) -> None:
        guarded = _guarded(handler)
        app.router.add_get(path, guarded)
        if not path.endswith("}"):
            app.router.add_get(path + "/", guarded)

    objects = {
        "cluster": "",
        "node": "/nodes/{node}",
        "ns": "/namespaces/{namespace}",
        "pod": "/namespaces/{namespace}/pods/{pod}",
        "pod_container": "/namespaces/{namespace}/pods/{pod}/containers/{container}",
        "sys_container": "/nodes/{node}/freecontainers/{container}",
    }
    for kind, base in objects.items():
        get(f"{base}/metrics", routes.names(kind))
        get(f"{base}/metrics/{_METRIC}", routes.metric(kind))
        get(f"{base}/{_AGGREGATED}", routes.aggregated(kind))
    for kind, base in (("pod", "/pod-id/{pod_id}"), ("pod_container", "/pod-id/{pod_id}/containers/{container}")):
        get(f"{base}/metrics/{_METRIC}", routes.metric(kind))
        get(f"{base}/{_AGGREGATED}", routes.aggregated(kind))
    for base in ("/namespaces/{namespace}/pod-list/{pods}", "/pod-id-list/{pod_ids}"):
        get(f"{base}/metrics/{_METRIC}", routes.pod_list_metric)
        get(f"{base}/{_AGGREGATED}", routes.pod_list_aggregated)
    get("/nodes", routes.nodes)
    get("/namespaces", routes.namespaces)
    get("/namespaces/{namespace}/pods", routes.pods)
    get("/namespaces/{namespace}/pods/{pod}/containers", routes.pod_containers)
    get("/nodes/{node}/freecontainers", routes.free_containers)
    return app
