"""The Model API under ``/api/v1/model`` (HEAPSTER.md §6.3), served from the metric store.

As Heapster, an unknown node, namespace, pod or container is not an error: lists answer ``[]`` and
metrics an empty MetricResult. Difference from Heapster, on purpose: values keep their type (floats
are not truncated and nothing wraps to uint64).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import orjson
from aiohttp import web

from heapster import keys
from heapster.api.instrument import Handler, instrumented
from heapster.api.params import BadRequest, parse_labels, parse_time
from heapster.api.responses import error_response, json_response
from heapster.api.thread import consistent
from heapster.catalogue import DEPRECATED_ALIASES
from heapster.interfaces import Clock
from heapster.release import untrack
from heapster.store import MetricStore, Point
from heapster.timefmt import ZERO_TIME, rfc3339, utc_from_epoch

BASE = "/api/v1/model"
_SLASH = "{_slash:/?}"
LISTS_KEPT = 256
"""Entity lists kept per batch (by route and its parameters); past that the kept ones are dropped."""


def metric_result(points: Sequence[Point]) -> dict[str, object]:
    """Heapster's MetricResult: the points and the latest timestamp (zero time when none)."""
    latest: datetime | None = None
    metrics = []
    for point in points:
        if latest is None or point.timestamp > latest:
            latest = point.timestamp
        metrics.append({"timestamp": rfc3339(point.timestamp), "value": point.value})
    return {"metrics": metrics, "latestTimestamp": rfc3339(latest) if latest else ZERO_TIME}


_RESULT_EMPTY = b'{\n  "metrics": [],\n  "latestTimestamp": "' + ZERO_TIME.encode() + b'"\n }'
_RESULT_HEAD = b'{\n  "metrics": [\n'
_RESULT_LATEST = b'\n  ],\n  "latestTimestamp": "'
_POINT_END = b"\n   }"
HEADS_KEPT = 4096
"""Timestamps whose formatted point head :func:`metric_result_json` keeps (a store of 15 minutes at 10 s holds 90);
past that many the kept ones are dropped."""
_point_heads: dict[datetime, bytes] = {}


def _point_head(timestamp: datetime) -> bytes:
    """The JSON of a point up to its value, made once per timestamp (every series of a batch shares it)."""
    head = _point_heads.get(timestamp)
    if head is None:
        if len(_point_heads) >= HEADS_KEPT:
            _point_heads.clear()
        head = b'   {\n    "timestamp": "' + rfc3339(timestamp).encode() + b'",\n    "value": '
        _point_heads[timestamp] = head
    return head


def metric_result_json(points: Sequence[Point]) -> bytes:
    """``go_json(metric_result(points))``, the same bytes, written from the points directly: a one-series answer
    formatted each point's timestamp, then indented the whole text again, a third of its CPU (the values are
    orjson's, as there; timestamps and numbers hold nothing Go would escape)."""
    if not points:
        return _RESULT_EMPTY
    values = orjson.dumps([point.value for point in points])[1:-1].split(b",")
    items = b",\n".join([_point_head(point.timestamp) + value + _POINT_END
                          for point, value in zip(points, values, strict=True)])
    latest = rfc3339(max(point.timestamp for point in points)).encode()
    return b"".join((_RESULT_HEAD, items, _RESULT_LATEST, latest, b'"\n }'))


def _node_key(key: str) -> bool:
    return key.startswith("node:") and "/" not in key


class ModelApi:
    """Handlers of the Model API over one :class:`MetricStore`."""

    def __init__(self, store: MetricStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._lists: tuple[int, dict[tuple[str, ...], list[str]]] = (-1, {})
        """The store version and the entity lists answered for it (dashboards poll the same lists)."""

    def routes(self) -> list[tuple[str, str, Handler]]:
        """``(path, operation, handler)`` of every route, with Heapster's operation names."""
        node = BASE + "/nodes/{node}"
        ns = BASE + "/namespaces/{namespace}"
        pod = ns + "/pods/{pod}"
        container = pod + "/containers/{container}"
        free = node + "/freecontainers/{container}"
        metric = "/metrics/{metric:.+}"
        return [
            (BASE + "/metrics" + _SLASH, "availableClusterMetrics", self.cluster_names),
            (BASE + metric, "clusterMetrics", self.cluster_metric),
            (BASE + "/nodes" + _SLASH, "nodeList", self.node_list),
            (node + "/metrics" + _SLASH, "availableNodeMetrics", self.node_names),
            (node + metric, "nodeMetrics", self.node_metric),
            (BASE + "/namespaces" + _SLASH, "namespaceList", self.namespace_list),
            (ns + "/metrics" + _SLASH, "availableNamespaceMetrics", self.namespace_names),
            (ns + metric, "namespaceMetrics", self.namespace_metric),
            (ns + "/pods" + _SLASH, "namespacePodList", self.pod_list),
            (pod + "/metrics" + _SLASH, "availablePodMetrics", self.pod_names),
            (pod + metric, "podMetrics", self.pod_metric),
            (pod + "/containers" + _SLASH, "podContainerList", self.container_list),
            (container + "/metrics" + _SLASH, "availableContainerMetrics", self.container_names),
            (container + metric, "podContainerMetrics", self.container_metric),
            (node + "/freecontainers" + _SLASH, "systemContainerList", self.free_container_list),
            (free + "/metrics" + _SLASH, "availableMetrics", self.free_container_names),
            (free + metric, "freeContainerMetrics", self.free_container_metric),
            (ns + "/pod-list/{pods}" + metric, "podListMetric", self.pod_list_metric),
            (BASE + "/debug/allkeys" + _SLASH, "debugAllKeys", self.all_keys),
        ]

    def add_to(self, app: web.Application) -> None:
        """Register every route on ``app``."""
        for path, operation, handler in self.routes():
            app.router.add_get(path, instrumented(operation, consistent(self.store, handler)))

    # --- keys of a request ---------------------------------------------------------------------
    @staticmethod
    def _node_key(request: web.Request) -> str:
        return keys.node_key(request.match_info["node"])

    @staticmethod
    def _ns_key(request: web.Request) -> str:
        return keys.namespace_key(request.match_info["namespace"])

    @staticmethod
    def _pod_key(request: web.Request) -> str:
        return keys.pod_key(request.match_info["namespace"], request.match_info["pod"])

    @staticmethod
    def _container_key(request: web.Request) -> str:
        info = request.match_info
        return keys.pod_container_key(info["namespace"], info["pod"], info["container"])

    @staticmethod
    def _free_key(request: web.Request) -> str:
        return keys.node_container_key(request.match_info["node"], request.match_info["container"])

    # --- name lists ----------------------------------------------------------------------------
    def _names(self, key: str) -> web.Response:
        return json_response(self.store.metric_names(key))

    async def cluster_names(self, request: web.Request) -> web.Response:
        return self._names(keys.CLUSTER_KEY)

    async def node_names(self, request: web.Request) -> web.Response:
        return self._names(self._node_key(request))

    async def namespace_names(self, request: web.Request) -> web.Response:
        return self._names(self._ns_key(request))

    async def pod_names(self, request: web.Request) -> web.Response:
        return self._names(self._pod_key(request))

    async def container_names(self, request: web.Request) -> web.Response:
        return self._names(self._container_key(request))

    async def free_container_names(self, request: web.Request) -> web.Response:
        return self._names(self._free_key(request))

    # --- entity lists --------------------------------------------------------------------------
    def _latest(self, name: str, kind: str, accept: Callable[[str], bool], **match: str) -> list[str]:
        """Label ``name`` of the newest batch's sets of type ``kind`` whose key ``accept``s and labels ``match``;
        made once per batch for each list asked (the caller holds the store's lock: the version stays), a list of
        strings the collector need not walk."""
        version, kept = self._lists
        if version != self.store.version:
            version, kept = self.store.version, {}
            self._lists = (version, kept)
        asked = (name, kind, *match.values())
        found = kept.get(asked)
        if found is None:
            if len(kept) >= LISTS_KEPT:
                kept.clear()
            found = kept[asked] = untrack([
                labels.get(name, "") for key, labels in self.store.latest_of_type(kind)
                if accept(key) and all(labels.get(k) == v for k, v in match.items())
            ])
        return found

    async def node_list(self, request: web.Request) -> web.Response:
        return json_response(self._latest("hostname", keys.NODE, _node_key))

    async def namespace_list(self, request: web.Request) -> web.Response:
        return json_response(self._latest("namespace_name", keys.NAMESPACE,
                                          lambda key: key.startswith("namespace:") and "/" not in key))

    async def pod_list(self, request: web.Request) -> web.Response:
        namespace = request.match_info["namespace"]
        prefix = keys.namespace_key(namespace) + "/pod:"
        return json_response(self._latest("pod_name", keys.POD,
                                          lambda key: key.startswith(prefix) and key.count("/") == 1,
                                          namespace_name=namespace))

    async def container_list(self, request: web.Request) -> web.Response:
        namespace, pod = request.match_info["namespace"], request.match_info["pod"]
        prefix = keys.pod_key(namespace, pod) + "/container:"
        return json_response(self._latest("container_name", keys.POD_CONTAINER, lambda key: key.startswith(prefix),
                                          namespace_name=namespace, pod_name=pod))

    async def free_container_list(self, request: web.Request) -> web.Response:
        node = request.match_info["node"]
        return json_response(self._latest("container_name", keys.SYS_CONTAINER,
                                          lambda key: key.startswith("node:") and "/container:" in key,
                                          hostname=node))

    async def all_keys(self, request: web.Request) -> web.Response:
        return json_response(self.store.latest_keys())

    # --- metric values -------------------------------------------------------------------------
    def _query(self, request: web.Request) -> tuple[str, datetime | None, datetime | None, dict[str, str] | None]:
        name = request.match_info["metric"].rstrip("/")
        name = DEPRECATED_ALIASES.get(name, name)
        start = parse_time(request.query.get("start"), None, round_up=True)
        end = parse_time(request.query.get("end"), utc_from_epoch(self.clock.now()))
        return name, start, end, parse_labels(request.query.get("labels"))

    def _fetch(self, request: web.Request, entity_keys: Sequence[str]) -> dict[str, list[Point]]:
        name, start, end, labels = self._query(request)
        if labels is not None:
            return self.store.get_labeled_metric(name, labels, entity_keys, start, end)
        return self.store.get_metric(name, entity_keys, start, end)

    def _metric(self, request: web.Request, key: str) -> web.Response:
        try:
            found = self._fetch(request, [key])
        except BadRequest as exc:
            return error_response(400, str(exc))
        return web.Response(body=metric_result_json(found.get(key, [])), content_type="application/json")

    async def cluster_metric(self, request: web.Request) -> web.Response:
        return self._metric(request, keys.CLUSTER_KEY)

    async def node_metric(self, request: web.Request) -> web.Response:
        return self._metric(request, self._node_key(request))

    async def namespace_metric(self, request: web.Request) -> web.Response:
        return self._metric(request, self._ns_key(request))

    async def pod_metric(self, request: web.Request) -> web.Response:
        return self._metric(request, self._pod_key(request))

    async def container_metric(self, request: web.Request) -> web.Response:
        return self._metric(request, self._container_key(request))

    async def free_container_metric(self, request: web.Request) -> web.Response:
        return self._metric(request, self._free_key(request))

    async def pod_list_metric(self, request: web.Request) -> web.Response:
        namespace = request.match_info["namespace"]
        pod_keys = [keys.pod_key(namespace, pod) for pod in request.match_info["pods"].split(",")]
        try:
            found = self._fetch(request, pod_keys)
        except BadRequest as exc:
            return error_response(400, str(exc))
        items = [metric_result(found.get(key, [])) for key in pod_keys]
        return json_response({"items": items}, pretty=False)
