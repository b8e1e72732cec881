"""The one shared cluster state: list+watch caches of nodes, pods and namespaces.

The source scrapes the nodes it lists, and the enrichers and the metrics API read pods, nodes
and namespaces from the same caches (Heapster ran three separate node watches).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiohttp
import structlog

from heapster_source_kubernetes.config import ApiAccess
from heapster_source_kubernetes.watch import DELETED, JSON, Informer, WatchEvent

log = structlog.get_logger(__name__)

NODES_PATH = "/api/v1/nodes"
PODS_PATH = "/api/v1/pods"
NAMESPACES_PATH = "/api/v1/namespaces"

_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_POD_CONTAINER_BULK = ("env", "envFrom", "volumeMounts", "volumeDevices", "livenessProbe", "readinessProbe",
                       "startupProbe", "lifecycle", "command", "args", "securityContext")


def _trim_metadata(obj: JSON) -> None:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(_LAST_APPLIED, None)


def trim_node(node: JSON) -> JSON:
    """Drop what no consumer reads and costs memory: managed fields, the image list."""
    _trim_metadata(node)
    status = node.get("status")
    if isinstance(status, dict):
        status.pop("images", None)
    return node


def trim_pod(pod: JSON) -> JSON:
    """Drop managed fields, volumes and the bulky container fields (env, probes, commands).

    Kept: metadata (labels, uid, owner), ``spec.nodeName``, containers' names, images and
    resources, and the whole status (phase, start time, container statuses).
    """
    _trim_metadata(pod)
    spec = pod.get("spec")
    if isinstance(spec, dict):
        spec.pop("volumes", None)
        for group in ("containers", "initContainers", "ephemeralContainers"):
            for container in spec.get(group) or ():
                if isinstance(container, dict):
                    for name in _POD_CONTAINER_BULK:
                        container.pop(name, None)
    return pod


def trim_namespace(namespace: JSON) -> JSON:
    _trim_metadata(namespace)
    return namespace


class KubernetesCluster:
    """Implements :class:`heapster.interfaces.ClusterState` over three informers."""

    def __init__(self, api: ApiAccess, *, page_size: int = 500, watch_timeout: int = 300,
                 backoff_initial: float = 0.5, backoff_max: float = 30.0) -> None:
        self.api = api
        self._session: aiohttp.ClientSession | None = None
        common: dict[str, Any] = {"page_size": page_size, "watch_timeout": watch_timeout,
                                  "backoff_initial": backoff_initial, "backoff_max": backoff_max}
        self.nodes = Informer(api, NODES_PATH, transform=trim_node, **common)
        self.pods = Informer(api, PODS_PATH, transform=trim_pod, **common)
        self.namespaces = Informer(api, NAMESPACES_PATH, transform=trim_namespace, **common)
        self._pods_by_namespace: dict[str, dict[str, JSON]] = {}
        self._pods_by_node: dict[str, dict[str, JSON]] = {}
        self.pods.add_handler(self._index_pod)

    @property
    def informers(self) -> tuple[Informer, Informer, Informer]:
        return (self.nodes, self.pods, self.namespaces)

    async def start(self, sync_timeout: float | None = 30.0) -> bool:
        """Start the three informers and wait for their first lists; False if that timed out."""
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16))
        for informer in self.informers:
            informer._session = self._session  # one connection pool for the three watches
            informer._own_session = False
            informer.start()
        synced = await asyncio.gather(*(i.wait_synced(sync_timeout) for i in self.informers))
        if not all(synced):
            log.warning("cluster.sync.slow", nodes=synced[0], pods=synced[1], namespaces=synced[2])
        return all(synced)

    async def close(self) -> None:
        for informer in self.informers:
            await informer.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- indexes ---------------------------------------------------------------------------

    def _index_pod(self, event: WatchEvent) -> None:
        pod = event.object
        meta = pod.get("metadata") or {}
        key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        namespace = meta.get("namespace", "")
        node = (pod.get("spec") or {}).get("nodeName") or ""
        # A pod's node is set after creation (scheduling): unindex the old copy before re-adding.
        old = self._pods_by_namespace.get(namespace, {}).get(key)
        if old is not None:
            old_node = (old.get("spec") or {}).get("nodeName") or ""
            by_node = self._pods_by_node.get(old_node)
            if by_node is not None:
                by_node.pop(key, None)
                if not by_node:
                    del self._pods_by_node[old_node]
        if event.type == DELETED:
            by_ns = self._pods_by_namespace.get(namespace)
            if by_ns is not None:
                by_ns.pop(key, None)
                if not by_ns:
                    del self._pods_by_namespace[namespace]
            return
        self._pods_by_namespace.setdefault(namespace, {})[key] = pod
        if node:
            self._pods_by_node.setdefault(node, {})[key] = pod

    # --- ClusterState ------------------------------------------------------------------------

    def get_node(self, name: str) -> dict[str, Any] | None:
        return self.nodes.get(name)

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.pods.get(f"{namespace}/{name}")

    def get_namespace(self, name: str) -> dict[str, Any] | None:
        return self.namespaces.get(name)

    def list_nodes(self) -> Sequence[dict[str, Any]]:
        return self.nodes.objects()

    def list_pods(self, namespace: str | None = None) -> Sequence[dict[str, Any]]:
        if namespace is None:
            return self.pods.objects()
        return list(self._pods_by_namespace.get(namespace, {}).values())

    def list_pods_on_node(self, node: str) -> Sequence[dict[str, Any]]:
        """Pods bound to ``node`` (``spec.nodeName``)."""
        return list(self._pods_by_node.get(node, {}).values())

    def list_namespaces(self) -> Sequence[dict[str, Any]]:
        return self.namespaces.objects()
