"""The resource metrics API: Heapster's ``metrics.k8s.io/v1alpha1`` (HEAPSTER.md §6.6) and ``v1beta1``.

v1alpha1 is served as Heapster did (no ``kind``/``apiVersion``, window 1m) at both
``/apis/metrics.k8s.io/v1alpha1`` and the older ``/apis/metrics/v1alpha1``; v1beta1 is shaped as
metrics-server serves it, with discovery documents, so ``kubectl top`` and the HPA can read it.
CPU is ``cpu/usage_rate`` (millicores) and memory ``memory/working_set`` of the newest batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from heapster import keys
from heapster.api.instrument import Handler, instrumented
from heapster.api.kept import REQUEST_TIME, KeptAnswers
from heapster.api.responses import (
    apiserver_json_response,
    apiserver_pretty,
    error_response,
    go_json,
    status_response,
)
from heapster.api.thread import consistent
from heapster.durations import format_duration
from heapster.gotext import go_quote
from heapster.interfaces import Clock, ClusterState
from heapster.processors.quantity import format_binary, format_milli
from heapster.selectors import FieldSelector, Selector, parse_field_selector, parse_selector
from heapster.store import MetricStore
from heapster.timefmt import rfc3339_seconds, utc_from_epoch

GROUP = "metrics.k8s.io"
V1BETA1 = f"{GROUP}/v1beta1"
V1ALPHA1 = f"{GROUP}/v1alpha1"
CPU, MEMORY = "cpu/usage_rate", "memory/working_set"
_SLASH = "{_slash:/?}"


def not_found(request: web.Request, resource: str, name: str, group: str = "") -> web.Response:
    """404 as apimachinery's ``NewNotFound(GroupResource{group, resource}, name)``: ``<resource>[.<group>] "<name>"
    not found``, with the name, group and resource (as ``kind``) in the details."""
    qualified = f"{resource}.{group}" if group else resource
    details = {"name": name, "group": group, "kind": resource} if group else {"name": name, "kind": resource}
    return status_response(request, 404, "NotFound", f"{qualified} {go_quote(name)} not found", details)


class LatestUsage:
    """``{"cpu": ..., "memory": ...}`` of a key in the store's newest batch, formatted once per batch.

    A list of 30 000 pods reads 60 000 usages: the first request after a batch formats them, the
    following ones (kubectl, the HPA and dashboards poll) look them up.
    """

    def __init__(self, store: MetricStore) -> None:
        self.store = store
        self._version = -1
        self._found: dict[str, dict[str, str] | None] = {}

    def __call__(self, key: str) -> dict[str, str] | None:
        if self._version != self.store.version:
            self._version, self._found = self.store.version, {}
        try:
            return self._found[key]
        except KeyError:
            cpu = self.store.latest_value(key, CPU)
            memory = self.store.latest_value(key, MEMORY)
            usage = None if cpu is None or memory is None else {
                "cpu": format_milli(round(cpu)), "memory": format_binary(round(memory))}
            self._found[key] = usage
            return usage


PodView = tuple[str, str, Mapping[str, str], list[str]]
"""What a pod list reads of a pod: namespace, name, labels, container names."""


def pod_view(pod: Mapping[str, Any]) -> PodView:
    meta = pod.get("metadata") or {}
    containers = [str(c.get("name", "")) for c in (pod.get("spec") or {}).get("containers") or ()]
    return str(meta.get("namespace", "")), str(meta.get("name", "")), meta.get("labels") or {}, containers


class PodViews:
    """The :data:`PodView` of each pod, decoded once per resourceVersion when the cluster state can tell it
    (``pod_keys`` and ``pod_version``, as the Kubernetes source's): its compact pod cache decodes a fresh
    dict on every read, two thirds of a metrics.k8s.io pod list's time. Used from one thread (the API's).
    """

    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster
        self._keys: Callable[[str | None], list[tuple[str, str]]] | None = getattr(cluster, "pod_keys", None)
        self._version: Callable[[str, str], str | None] | None = getattr(cluster, "pod_version", None)
        self._views: dict[str, dict[str, tuple[str | None, PodView]]] = {}
        """namespace -> pod name -> (resourceVersion, view), as of the last list of that namespace."""

    def list(self, namespace: str | None) -> list[PodView]:
        """The pods of ``namespace`` (every pod if None)."""
        if self._keys is None or self._version is None:
            return [pod_view(pod) for pod in self.cluster.list_pods(namespace)]
        found: list[PodView] = []
        seen: dict[str, dict[str, tuple[str | None, PodView]]] = {}
        for ns, name in self._keys(namespace):
            version = self._version(ns, name)
            cached = self._views.get(ns, {}).get(name)
            if cached is None or version is None or cached[0] != version:
                pod = self.cluster.get_pod(ns, name)
                if pod is None:
                    continue
                cached = (version, pod_view(pod))
            seen.setdefault(ns, {})[name] = cached
            found.append(cached[1])
        if namespace is None:
            self._views = seen  # pods (and namespaces) deleted since are forgotten
        else:
            self._views[namespace] = seen.get(namespace, {})
        return found


class ResourceMetricsApi:
    """Node and pod usage for one API version (``beta`` selects the v1beta1 shapes)."""

    def __init__(self, store: MetricStore, cluster: ClusterState | None, clock: Clock, *, beta: bool,
                 window: str = "1m0s", usage: LatestUsage | None = None, pods: PodViews | None = None) -> None:
        self.store = store
        self.cluster = cluster
        self.clock = clock
        self.beta = beta
        self.window = window
        self.usage = usage or LatestUsage(store)
        self.pods = pods or (PodViews(cluster) if cluster is not None else None)
        self._changes: Callable[[], int] | None = getattr(cluster, "pod_changes", None)
        self.kept = KeptAnswers()
        """Pod list answers of the newest batch and pod cache (:meth:`_pods_state`)."""

    def routes(self, base: str) -> list[tuple[str, str, Handler]]:
        """``(path, operation, handler)`` of the node and pod routes under ``base``."""
        return [
            (base + "/nodes" + _SLASH, "nodeMetricsList", self.node_list),
            (base + "/nodes/{node}" + _SLASH, "nodeMetricsGet", self.node),
            (base + "/pods" + _SLASH, "allPodMetricsList", self.all_pods),
            (base + "/namespaces/{namespace}/pods" + _SLASH, "podMetricsList", self.namespace_pods),
            (base + "/namespaces/{namespace}/pods/{pod}" + _SLASH, "podMetricsGet", self.pod),
        ]

    # --- shapes --------------------------------------------------------------------------------
    def _now(self) -> str:
        """``creationTimestamp`` of every item of a response: the time of the request, as metrics-server."""
        return rfc3339_seconds(utc_from_epoch(self.clock.now()))

    def _meta(self, name: str, namespace: str | None = None, labels: Mapping[str, str] | None = None,
              created: str | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name}
        if namespace is not None:
            meta["namespace"] = namespace
        meta["creationTimestamp"] = created or self._now()
        if self.beta and labels:
            meta["labels"] = dict(labels)
        return meta

    def _typed(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        if not self.beta:
            return body
        return {"kind": kind, "apiVersion": V1BETA1, **body}

    def _respond(self, request: web.Request, data: dict[str, Any]) -> web.Response:
        """v1alpha1 as Heapster's go-restful wrote it (pretty); v1beta1 as metrics-server's API server."""
        return web.Response(body=self._encode(request, data), content_type="application/json")

    def _pretty(self, request: web.Request) -> bool:
        """Whether :meth:`_respond` indents its answer to ``request``."""
        return apiserver_pretty(request) if self.beta else True

    def _encode(self, request: web.Request, data: dict[str, Any]) -> bytes:
        """The body :meth:`_respond` answers ``request`` with."""
        return go_json(data, pretty=self._pretty(request), layout="apiserver" if self.beta else "go-restful")

    def _list(self, kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        return self._typed(kind, {"metadata": {}, "items": items if items or self.beta else None})

    def _bad_request(self, request: web.Request, message: str) -> web.Response:
        """400: Heapster's plain text (v1alpha1), a ``BadRequest`` Status from an API server (v1beta1)."""
        return status_response(request, 400, "BadRequest", message) if self.beta else error_response(400, message)

    def _no_metrics(self, request: web.Request, resource: str, name: str, heapster_text: str) -> web.Response:
        """404 for an object without metrics: Heapster's text (v1alpha1); metrics-server's ``NotFound`` of
        ``nodemetrics``/``podmetrics.metrics.k8s.io`` (v1beta1)."""
        return not_found(request, resource, name, GROUP) if self.beta else error_response(404, heapster_text)

    # --- nodes ---------------------------------------------------------------------------------
    def _node_metrics(self, name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any] | None:
        stamp = self.store.latest_timestamp
        usage = self.usage(keys.node_key(name))
        if stamp is None or usage is None:
            return None
        return self._typed("NodeMetrics", {
            "metadata": self._meta(name, labels=labels), "timestamp": rfc3339_seconds(stamp), "window": self.window,
            "usage": usage,
        })

    def _nodes(self, selector: Selector) -> list[tuple[str, Mapping[str, str]]]:
        if self.cluster is not None:
            found = []
            for node in self.cluster.list_nodes():
                meta = node.get("metadata") or {}
                labels = meta.get("labels") or {}
                if selector.matches(labels):
                    found.append((str(meta.get("name", "")), labels))
            return found
        nodes = self.store.latest_entities(lambda key: key.startswith("node:") and "/" not in key)
        return [(key[len("node:"):], {}) for key, labels in nodes
                if labels.get("type") == keys.NODE and selector.matches({})]

    async def node_list(self, request: web.Request) -> web.Response:
        try:
            selector = parse_selector(request.query.get("labelSelector"))
            fields = parse_field_selector(request.query.get("fieldSelector"))
        except ValueError as exc:
            return self._bad_request(request,
                                     f"Error while parsing selector {request.query.get('labelSelector')}: {exc}")
        # metrics-server filters node metrics on metadata.name (a node has no namespace).
        items = [m for name, labels in self._nodes(selector)
                 if (fields.empty or fields.matches({"metadata.name": name}))
                 and (m := self._node_metrics(name, labels))]
        items.sort(key=lambda item: item["metadata"]["name"])
        return self._respond(request, self._list("NodeMetricsList", items))

    async def node(self, request: web.Request) -> web.Response:
        name = request.match_info["node"]
        labels = None
        if self.cluster is not None:
            node = self.cluster.get_node(name)
            if node is None and self.beta:
                return not_found(request, "node", name)  # metrics-server: its node lister's error, as is
            labels = ((node or {}).get("metadata") or {}).get("labels")
        found = self._node_metrics(name, labels)
        if found is None:
            return self._no_metrics(request, "nodemetrics", name, f"No metrics for node {name}")
        return self._respond(request, found)

    # --- pods ----------------------------------------------------------------------------------
    def _pod_metrics(self, namespace: str, name: str, containers: Sequence[str],
                     labels: Mapping[str, str] | None = None, stamps: tuple[str, str] | None = None
                     ) -> dict[str, Any] | None:
        """One PodMetrics; ``stamps`` (batch timestamp, creation timestamp) when listing many."""
        if stamps is None:
            stamp = self.store.latest_timestamp
            if stamp is None:
                return None
            stamps = (rfc3339_seconds(stamp), self._now())
        if not containers:
            return None
        usages = []
        for container in containers:
            usage = self.usage(keys.pod_container_key(namespace, name, container))
            if usage is None:
                return None
            usages.append({"name": container, "usage": usage})
        return self._typed("PodMetrics", {
            "metadata": self._meta(name, namespace, labels, stamps[1]), "timestamp": stamps[0],
            "window": self.window, "containers": usages,
        })

    @staticmethod
    def _spec_containers(pod: Mapping[str, Any]) -> list[str]:
        return [str(c.get("name", "")) for c in (pod.get("spec") or {}).get("containers") or ()]

    def _stored_pods(self, namespace: str | None) -> list[tuple[str, str, list[str]]]:
        containers: dict[tuple[str, str], list[str]] = {}
        prefix = "namespace:" if namespace is None else keys.namespace_key(namespace) + "/pod:"
        for _, labels in self.store.latest_entities(lambda key: key.startswith(prefix)):
            kind = labels.get("type")
            ident = (labels.get("namespace_name", ""), labels.get("pod_name", ""))
            if namespace is not None and ident[0] != namespace:
                continue
            if kind == keys.POD:
                containers.setdefault(ident, [])
            elif kind == keys.POD_CONTAINER:
                containers.setdefault(ident, []).append(labels.get("container_name", ""))
        return [(ns, pod, sorted(names)) for (ns, pod), names in containers.items()]

    def _pods(self, namespace: str | None, selector: Selector, created: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        latest = self.store.latest_timestamp
        if latest is None:
            return items
        stamps = (rfc3339_seconds(latest), created)
        if self.pods is not None:
            for ns, name, labels, containers in self.pods.list(namespace):
                if not selector.empty and not selector.matches(labels):
                    continue
                found = self._pod_metrics(ns, name, containers, labels, stamps)
                if found is not None:
                    items.append(found)
        else:
            for ns, name, containers in self._stored_pods(namespace):
                if selector.matches({}) and (found := self._pod_metrics(ns, name, containers, None, stamps)):
                    items.append(found)
        items.sort(key=lambda item: (item["metadata"]["namespace"], item["metadata"]["name"]))
        return items

    async def _pod_list(self, request: web.Request, namespace: str | None) -> web.Response:
        try:
            selector = parse_selector(request.query.get("labelSelector"))
            fields = parse_field_selector(request.query.get("fieldSelector"))
        except ValueError as exc:
            return self._bad_request(request, f"Error while parsing selector: {exc}")
        now = self._now()
        state = self._pods_state()
        if state is not None:  # kept, or made with a stand-in for the request's time and kept
            asked = (namespace, request.query.get("labelSelector"), request.query.get("fieldSelector"),
                     self._pretty(request))
            kept = self.kept.get(state, asked)
            if kept is None:
                items = self._pod_items(namespace, selector, fields, REQUEST_TIME)
                kept = self.kept.keep(state, asked, self._encode(request, self._list("PodMetricsList", items)),
                                      len(items))
            body = kept.render(now) if kept is not None else None
            if body is not None:
                return web.Response(body=body, content_type="application/json")
        items = self._pod_items(namespace, selector, fields, now)
        return self._respond(request, self._list("PodMetricsList", items))

    def _pod_items(self, namespace: str | None, selector: Selector, fields: FieldSelector,
                   created: str) -> list[dict[str, Any]]:
        """The PodMetrics of a list, ``created`` their ``creationTimestamp``."""
        # metrics-server filters pod metrics on these two fields (kubectl top pod --field-selector).
        return [item for item in self._pods(namespace, selector, created) if fields.empty or fields.matches(
            {"metadata.name": item["metadata"]["name"], "metadata.namespace": item["metadata"]["namespace"]})]

    def _pods_state(self) -> tuple[int, int | None] | None:
        """What a pod list shows depends on: the store's newest batch and, with a cluster state, its pods (their
        count of changes, ``pod_changes``, read before the list is made); None if the cluster cannot tell."""
        if self.cluster is None:
            return self.store.version, None
        if self._changes is None:
            return None
        return self.store.version, self._changes()

    async def all_pods(self, request: web.Request) -> web.Response:
        return await self._pod_list(request, None)

    async def namespace_pods(self, request: web.Request) -> web.Response:
        return await self._pod_list(request, request.match_info["namespace"])

    async def pod(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["pod"]
        labels = None
        if self.cluster is not None:
            pod = self.cluster.get_pod(namespace, name)
            if pod is None:
                if self.beta:  # metrics-server: its pod (metadata) lister's error, as is
                    return not_found(request, "pods", name)
                return error_response(404, f"Pod {namespace}/{name} not defined")
            containers = self._spec_containers(pod)
            labels = (pod.get("metadata") or {}).get("labels")
        else:
            matching = [c for ns, pod_name, c in self._stored_pods(namespace) if pod_name == name]
            containers = matching[0] if matching else []
        found = self._pod_metrics(namespace, name, containers, labels)
        if found is None:
            return self._no_metrics(request, "podmetrics", f"{namespace}/{name}",
                                    f"No metrics available for pod {namespace}/{name}")
        return self._respond(request, found)


# --- discovery (v1beta1 preferred, v1alpha1 too) -----------------------------------------------------
def _resources(version: str) -> dict[str, Any]:
    return {
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": version,
        "resources": [
            {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
            {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]},
        ],
    }


def _group() -> dict[str, Any]:
    return {
        "name": GROUP,
        "versions": [{"groupVersion": V1BETA1, "version": "v1beta1"},
                     {"groupVersion": V1ALPHA1, "version": "v1alpha1"}],
        "preferredVersion": {"groupVersion": V1BETA1, "version": "v1beta1"},
    }


def discovery_routes() -> list[tuple[str, Handler]]:
    """``/apis``, ``/apis/metrics.k8s.io`` and the two versions' resource lists."""

    async def groups(request: web.Request) -> web.Response:
        return apiserver_json_response(request, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group()]})

    async def group(request: web.Request) -> web.Response:
        return apiserver_json_response(request, {"kind": "APIGroup", "apiVersion": "v1", **_group()})

    async def beta(request: web.Request) -> web.Response:
        return apiserver_json_response(request, _resources(V1BETA1))

    async def alpha(request: web.Request) -> web.Response:
        return apiserver_json_response(request, _resources(V1ALPHA1))

    return [
        ("/apis" + _SLASH, groups),
        (f"/apis/{GROUP}" + _SLASH, group),
        (f"/apis/{V1BETA1}" + _SLASH, beta),
        (f"/apis/{V1ALPHA1}" + _SLASH, alpha),
    ]


def public_node(node: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a Node that ``kubectl top node`` reads: its name, capacity and allocatable."""
    metadata = node.get("metadata") or {}
    status = node.get("status") or {}
    return {"metadata": {"name": metadata.get("name", "")},
            "status": {key: status[key] for key in ("capacity", "allocatable") if key in status}}


def core_node_routes(cluster: ClusterState) -> list[tuple[str, Handler]]:
    """Read-only ``/api/v1/nodes`` for ``kubectl top node`` pointed at heapster (it reads allocatable).

    Not a Heapster route and served without authentication unless ``--tls_client_ca`` is set, so
    each Node is cut down to what that client reads (:func:`public_node`): no annotations,
    addresses, node info (machine and boot IDs) or conditions.
    """

    async def versions(request: web.Request) -> web.Response:
        return apiserver_json_response(request, {"kind": "APIVersions", "versions": ["v1"],
                                                 "serverAddressByClientCIDRs": []})

    async def node_list(request: web.Request) -> web.Response:
        try:
            selector = parse_selector(request.query.get("labelSelector"))
        except ValueError as exc:
            return status_response(request, 400, "BadRequest",
                                   f"Error while parsing selector {request.query.get('labelSelector')}: {exc}")
        items = [public_node(n) for n in cluster.list_nodes()
                 if selector.matches((n.get("metadata") or {}).get("labels"))]
        return apiserver_json_response(request, {"kind": "NodeList", "apiVersion": "v1", "metadata": {},
                                                 "items": items})

    async def node(request: web.Request) -> web.Response:
        found = cluster.get_node(request.match_info["node"])
        if found is None:
            return not_found(request, "nodes", request.match_info["node"])
        return apiserver_json_response(request, {"kind": "Node", "apiVersion": "v1", **public_node(found)})

    return [("/api" + _SLASH, versions), ("/api/v1/nodes" + _SLASH, node_list), ("/api/v1/nodes/{node}", node)]


def add_resource_metrics(app: web.Application, store: MetricStore, cluster: ClusterState | None, clock: Clock,
                         resolution: float) -> None:
    """Mount v1alpha1 (both paths), v1beta1 and discovery on ``app``."""
    usage = LatestUsage(store)
    pods = PodViews(cluster) if cluster is not None else None
    alpha = ResourceMetricsApi(store, cluster, clock, beta=False, usage=usage, pods=pods)
    beta = ResourceMetricsApi(store, cluster, clock, beta=True, window=format_duration(resolution), usage=usage,
                              pods=pods)
    for path, handler in discovery_routes():
        app.router.add_get(path, handler)
    for base in (f"/apis/{V1ALPHA1}", "/apis/metrics/v1alpha1"):
        for path, operation, handler in alpha.routes(base):
            app.router.add_get(path, instrumented(f"v1alpha1:{operation}", consistent(store, handler)))
    for path, operation, handler in beta.routes(f"/apis/{V1BETA1}"):
        app.router.add_get(path, instrumented(f"v1beta1:{operation}", consistent(store, handler)))
    if cluster is not None:
        for path, handler in core_node_routes(cluster):
            app.router.add_get(path, handler)
