"""The one shared cluster state: list+watch caches of nodes, pods and namespaces.

The source scrapes the nodes it lists, and the enrichers and the metrics API read pods, nodes
and namespaces from the same caches (Heapster ran three separate node watches).
"""

from __future__ import annotations

import asyncio
import sys
import time
from bisect import bisect_left
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import structlog

from heapster.labelsets import compact
from heapster_source_kubernetes.config import ApiAccess
from heapster_source_kubernetes.watch import DELETED, JSON, Informer, WatchEvent

log = structlog.get_logger(__name__)

NODES_PATH = "/api/v1/nodes"
PODS_PATH = "/api/v1/pods"
NAMESPACES_PATH = "/api/v1/namespaces"
FIRST_LISTS_MAX_WAIT = 600.0
"""Seconds at most that the start waits for the first lists while their pages keep arriving."""

_intern = sys.intern


def _meta(meta: Any, annotations: bool = False) -> JSON:
    """The metadata consumers read: name, namespace, uid, labels, resourceVersion, creation time."""
    if not isinstance(meta, dict):
        return {}
    out: JSON = {}
    for key in ("name", "uid", "resourceVersion", "creationTimestamp", "labels", "ownerReferences"):
        value = meta.get(key)
        if value is not None:
            out[key] = value
    namespace = meta.get("namespace")
    if isinstance(namespace, str):
        out["namespace"] = _intern(namespace)
    if annotations and isinstance(meta.get("annotations"), dict):
        out["annotations"] = {k: v for k, v in meta["annotations"].items()
                              if k != "kubectl.kubernetes.io/last-applied-configuration"}
    return out


def trim_node(node: JSON) -> JSON:
    """Drop what no consumer reads and costs memory: managed fields, the image list, volumes; hold the rest
    compactly (:func:`_held`)."""
    meta = node.get("metadata")
    if isinstance(meta, dict):
        node["metadata"] = _meta(meta, annotations=True)  # host_id_annotation reads annotations
    status = node.get("status")
    if isinstance(status, dict):
        for key in ("images", "volumesInUse", "volumesAttached", "runtimeHandlers", "features", "config"):
            status.pop(key, None)
    held: JSON = _held(node)
    return held


_HELD_TEXT = 64
"""Strings up to this length are interned by :func:`_held` (longer ones rarely repeat)."""


def _held(value: Any) -> Any:
    """``value`` (decoded JSON) held compactly, equal in every respect: each dict sharing one key table with
    the dicts of its keys (:func:`heapster.labelsets.compact`), each short string interned. The nodes' values
    repeat from node to node (conditions, capacities, labels, versions): 8.5 -> 2.8 KB per simulated node."""
    if type(value) is dict:
        return compact({key: _held(item) for key, item in value.items()})
    if type(value) is list:
        return [_held(item) for item in value]
    if type(value) is str and len(value) <= _HELD_TEXT:
        return _intern(value)
    return value


def _container(container: Any) -> JSON:
    if not isinstance(container, dict):
        return {}
    out: JSON = {"name": container.get("name", "")}
    image = container.get("image")
    if isinstance(image, str):
        out["image"] = _intern(image)
    resources = container.get("resources")
    if resources:
        out["resources"] = resources
    return out


def trim_pod(pod: JSON) -> JSON:
    """Keep only what the enrichers, the metrics API and the node index read (memory: ~150k pods).

    Kept: metadata (name, namespace, uid, labels, owners, resourceVersion, creation time),
    ``spec.nodeName``, containers' names, images and resources, and from the status the phase,
    start time and each container's name, restart count, readiness and state.
    """
    spec: JSON = pod.get("spec") or {}
    status: JSON = pod.get("status") or {}
    out_spec: JSON = {"containers": [_container(c) for c in spec.get("containers") or ()]}
    if spec.get("initContainers"):
        out_spec["initContainers"] = [_container(c) for c in spec["initContainers"]]
    node_name = spec.get("nodeName")
    if isinstance(node_name, str):
        out_spec["nodeName"] = _intern(node_name)
    out_status: JSON = {}
    for key in ("phase", "startTime", "qosClass"):
        value = status.get(key)
        if isinstance(value, str):
            out_status[key] = _intern(value) if key != "startTime" else value
    statuses = status.get("containerStatuses")
    if isinstance(statuses, list):
        out_status["containerStatuses"] = [
            {"name": cs.get("name", ""), "restartCount": cs.get("restartCount", 0), "ready": cs.get("ready", False),
             "state": cs.get("state") or {}}
            for cs in statuses if isinstance(cs, dict)
        ]
    trimmed: JSON = {"metadata": _meta(pod.get("metadata")), "spec": out_spec, "status": out_status}
    for key in ("kind", "apiVersion"):
        if key in pod:
            trimmed[key] = pod[key]
    return trimmed


def trim_namespace(namespace: JSON) -> JSON:
    namespace["metadata"] = _meta(namespace.get("metadata"))
    namespace.pop("spec", None)
    return namespace


class KubernetesCluster:
    """Implements :class:`heapster.interfaces.ClusterState` over three informers.

    Pods are trimmed to what consumers read and, with ``compact_pods`` (default), kept as JSON
    bytes: ``get_pod``/``list_pods`` decode a fresh dict per call (a few microseconds per pod),
    which cuts the pod cache to about a fifth (150 000 pods at 5000 nodes). Nodes and namespaces
    are few and stay dicts.
    """

    def __init__(self, api: ApiAccess, *, page_size: int = 500, watch_timeout: int = 300,
                 backoff_initial: float = 0.5, backoff_max: float = 30.0, compact_pods: bool = True) -> None:
        self.api = api
        common: dict[str, Any] = {"page_size": page_size, "watch_timeout": watch_timeout,
                                  "backoff_initial": backoff_initial, "backoff_max": backoff_max}
        self.nodes = Informer(api, NODES_PATH, transform=trim_node, **common)
        self.pods = Informer(api, PODS_PATH, transform=trim_pod, compact=compact_pods, **common)
        self.namespaces = Informer(api, NAMESPACES_PATH, transform=trim_namespace, **common)
        self._pods_by_namespace: dict[str, set[str]] = {}
        self._pods_by_node: dict[str, list[str]] = {}
        """Each node's pod keys, sorted: a list (~30 keys, ~0.3 KiB) where a set of 30 keys took a table of 128
        entries (~2.2 KiB a node); kept in order by bisection, a pod's event costs a few dozen comparisons."""
        self._pod_node: dict[str, str] = {}
        self.pods.add_handler(self._index_pod)

    @property
    def informers(self) -> tuple[Informer, Informer, Informer]:
        return (self.nodes, self.pods, self.namespaces)

    async def start(self, sync_timeout: float | None = 30.0, max_wait: float = FIRST_LISTS_MAX_WAIT) -> bool:
        """Start the three informers and wait for their first lists; False once ``sync_timeout`` passed with no
        list page arriving, or after about ``max_wait`` seconds in all.

        A list that still brings pages is waited for (150 000 pods at 5000 nodes took over 30 s on a busy
        machine): scraping before the pods are known drops every pod's metrics from the first batches (the pod
        enricher keeps only pods it knows). ``max_wait`` bounds a list that keeps failing and starting again: the
        daemon then starts with what it has, as after a stall.
        """
        for informer in self.informers:
            informer.start()
        began = time.monotonic()
        while True:
            listed = [i.listed for i in self.informers]
            synced = await asyncio.gather(*(i.wait_synced(sync_timeout) for i in self.informers))
            if all(synced):
                return True
            if (sync_timeout is None or [i.listed for i in self.informers] == listed
                    or time.monotonic() - began >= max_wait):
                log.warning("cluster.sync.slow", nodes=synced[0], pods=synced[1], namespaces=synced[2])
                return False
            log.info("cluster.sync.waiting", listed_nodes=self.nodes.listed, listed_pods=self.pods.listed,
                     listed_namespaces=self.namespaces.listed, note="the first lists are still arriving")

    async def close(self) -> None:
        for informer in self.informers:
            await informer.stop()

    # --- indexes ---------------------------------------------------------------------------

    def _index_pod(self, event: WatchEvent) -> None:
        meta = event.object.get("metadata") or {}
        namespace = meta.get("namespace", "")
        key = _intern(f"{namespace}/{meta.get('name', '')}")  # the cache's own string (``interned_key``)
        # A pod's node is set after creation (scheduling): unindex the old node before re-adding.
        old_node = self._pod_node.pop(key, None)
        if old_node is not None:
            on_node = self._pods_by_node.get(old_node)
            if on_node is not None:
                at = bisect_left(on_node, key)
                if at < len(on_node) and on_node[at] == key:
                    del on_node[at]
                if not on_node:
                    del self._pods_by_node[old_node]
        if event.type == DELETED:
            in_namespace = self._pods_by_namespace.get(namespace)
            if in_namespace is not None:
                in_namespace.discard(key)
                if not in_namespace:
                    del self._pods_by_namespace[namespace]
            return
        self._pods_by_namespace.setdefault(namespace, set()).add(key)
        node = (event.object.get("spec") or {}).get("nodeName") or ""
        if node:
            node = _intern(node)  # one string per node (a list's events carry decoded copies of the pods)
            self._pod_node[key] = node
            on_node = self._pods_by_node.setdefault(node, [])
            at = bisect_left(on_node, key)
            if at == len(on_node) or on_node[at] != key:
                on_node.insert(at, key)

    # --- ClusterState ------------------------------------------------------------------------

    def get_node(self, name: str) -> dict[str, Any] | None:
        return self.nodes.get(name)

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.pods.get(f"{namespace}/{name}")

    def pod_version(self, namespace: str, name: str) -> str | None:
        """The pod's resourceVersion, without decoding it: the pod enricher skips ``get_pod`` for unchanged pods."""
        return self.pods.version(f"{namespace}/{name}")

    def pod_versions(self) -> Mapping[str, str]:
        """``namespace/name -> resourceVersion`` of every pod (a read-only view, for one pass): the pod enricher
        checks a node's pods against it in one step instead of a ``pod_version`` call per pod."""
        return self.pods.versions()

    def pod_changes(self) -> int:
        """A count of the changes of the pod cache, each counted before it is made: the same count again means
        that no pod changed in between (the pod enricher then needs no version check at all)."""
        return self.pods.changes

    def pod_keys(self, namespace: str | None = None) -> list[tuple[str, str]]:
        """``(namespace, name)`` of every pod (of ``namespace``), without decoding any: with :meth:`pod_version`,
        lets the metrics API decode only the pods that changed since it last listed them."""
        found = self.pods.keys() if namespace is None else sorted(self._pods_by_namespace.get(namespace) or ())
        return [(ns, name) for ns, _, name in (key.partition("/") for key in found)]

    def get_namespace(self, name: str) -> dict[str, Any] | None:
        return self.namespaces.get(name)

    def list_nodes(self) -> Sequence[dict[str, Any]]:
        return self.nodes.objects()

    def list_pods(self, namespace: str | None = None) -> Sequence[dict[str, Any]]:
        if namespace is None:
            return self.pods.objects()
        return self._pods_at(self._pods_by_namespace.get(namespace))

    def list_pods_on_node(self, node: str) -> Sequence[dict[str, Any]]:
        """Pods bound to ``node`` (``spec.nodeName``)."""
        return self._pods_at(self._pods_by_node.get(node))

    def _pods_at(self, keys: Collection[str] | None) -> list[dict[str, Any]]:
        found = (self.pods.get(key) for key in sorted(keys or ()))
        return [pod for pod in found if pod is not None]

    def list_namespaces(self) -> Sequence[dict[str, Any]]:
        return self.namespaces.objects()
