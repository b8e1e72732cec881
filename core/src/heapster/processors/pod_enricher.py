"""Pod based enricher (HEAPSTER.md §5.2): pod UID, labels, requests/limits, restarts and stub sets."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import numpy as np
import structlog

from heapster import keys
from heapster.columns import MISSING, POD, POD_CONTAINER, ColumnBatch, to_ns
from heapster.interfaces import ClusterState, ColumnProcessor
from heapster.model import DataBatch, MetricType
from heapster.processors.labels import LabelCopier
from heapster.processors.resources import container_resources
from heapster.timefmt import parse_rfc3339

log = structlog.get_logger(__name__)

_GAUGE = MetricType.GAUGE
_HOST_LABELS = ("nodename", "hostname", "host_id")


def _intern(text: Any) -> Any:
    """One copy of a namespace or image name for every pod (strings only; anything else as given)."""
    return sys.intern(text) if type(text) is str else text


class Shared:
    """Hands out one object for equal values: replicas of a workload have equal requests, limits and labels,
    so the pod cache of 150 000 pods holds each layout, number tuple and label dict once (bounded)."""

    __slots__ = ("_labels", "_tuples")

    LIMIT = 65_536

    def __init__(self) -> None:
        self._tuples: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._labels: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}

    def tuple(self, value: tuple[Any, ...]) -> tuple[Any, ...]:
        """The shared tuple equal to ``value``."""
        found = self._tuples.get(value)
        if found is None:
            if len(self._tuples) >= self.LIMIT:
                self._tuples.clear()
            found = self._tuples[value] = value
        return found

    def labels(self, value: dict[str, str]) -> dict[str, str]:
        """The shared dict equal to ``value`` (read-only for every holder)."""
        ident = tuple(value.items())
        found = self._labels.get(ident)
        if found is None:
            if len(self._labels) >= self.LIMIT:
                self._labels.clear()
            found = self._labels[ident] = value
        return found


class _ContainerInfo:
    """One spec container: its key, image and its request/limit (and restart count) values, built once.

    ``layout``/``numbers`` (and ``stub_*`` without ``restart_count``) are the values as parallel tuples,
    written to the columns in one step per container; equal tuples are shared between containers.
    """

    __slots__ = ("image", "key", "layout", "numbers", "restarts", "stub_layout", "stub_numbers")

    def __init__(self, key: str, image: str, resources: dict[str, int], restarts: int | None,
                 shared: Shared) -> None:
        self.key = key
        self.image = image
        self.stub_layout = shared.tuple(tuple((name, _GAUGE) for name in resources))
        self.stub_numbers = shared.tuple(tuple(resources.values()))
        self.layout, self.numbers = self.stub_layout, self.stub_numbers
        self.restarts = restarts is not None  # the pod status gave it a restart count
        if restarts is not None:
            self.layout = shared.tuple((*self.stub_layout, ("restart_count", _GAUGE)))
            self.numbers = shared.tuple((*self.stub_numbers, restarts))


class PodInfo:
    """What the enricher needs from one Pod object, computed once per pod version."""

    __slots__ = ("containers", "copied_labels", "key", "name", "namespace", "start_ns", "uid", "version")

    def __init__(self, pod: Mapping[str, Any], copier: LabelCopier, shared: Shared | None = None) -> None:
        shared = shared or Shared()
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        self.version = meta.get("resourceVersion")
        self.namespace: str = _intern(meta.get("namespace", ""))
        self.name: str = meta.get("name", "")
        self.uid = str(meta.get("uid", ""))
        self.key = keys.pod_key(self.namespace, self.name)
        self.copied_labels = shared.labels(copier.copied(meta.get("labels")))
        started = status.get("startTime")
        start_time: datetime | None = None
        if started:
            try:
                start_time = parse_rfc3339(started)
            except ValueError:
                log.warning("pod.start_time.invalid", pod=f"{self.namespace}/{self.name}", value=started)
        restarts = {
            cs.get("name"): int(cs.get("restartCount") or 0) for cs in status.get("containerStatuses") or ()
        }
        self.start_ns = to_ns(start_time)
        self.containers: dict[str, _ContainerInfo] = {}
        for container in spec.get("containers") or ():
            cname = container.get("name", "")
            self.containers[cname] = _ContainerInfo(
                keys.pod_container_key(self.namespace, self.name, cname), _intern(container.get("image", "")),
                container_resources(container), restarts.get(cname), shared
            )


class _Changes:
    """What one enrichment adds: values of existing and new rows, and the new (stub) entities."""

    __slots__ = ("create_time", "keys", "labels", "layouts", "present", "size")

    def __init__(self, cols: ColumnBatch) -> None:
        self.size = len(cols)
        self.present = set(cols.keys)
        self.keys: list[str] = []
        self.labels: list[dict[str, str]] = []
        self.create_time: list[int] = []
        # Rows that get the same metric names share a layout: one list of rows, one of value tuples.
        self.layouts: dict[tuple[tuple[str, MetricType], ...], tuple[list[int], list[tuple[int, ...]]]] = {}

    def add_entity(self, key: str, labels: dict[str, str], create_ns: int) -> int:
        self.present.add(key)
        self.keys.append(key)
        self.labels.append(labels)
        self.create_time.append(create_ns)
        return self.size + len(self.keys) - 1

    def set_values(self, row: int, layout: tuple[tuple[str, MetricType], ...], numbers: tuple[int, ...]) -> None:
        if not layout:
            return
        pending = self.layouts.get(layout)
        if pending is None:
            pending = self.layouts[layout] = ([], [])
        pending[0].append(row)
        pending[1].append(numbers)

    def apply(self, cols: ColumnBatch) -> None:
        if self.keys:
            cols.add_entities(self.keys, self.labels, create_time=self.create_time)
        for layout, (rows, numbers) in self.layouts.items():
            targets = np.array(rows, dtype=np.intp)
            table = np.array(numbers)
            for index, (name, metric_type) in enumerate(layout):
                cols.set_values(name, targets, table[:, index], metric_type)


class PodBasedEnricher(ColumnProcessor):
    """Adds what the Pod objects know to pod and container sets, and stubs for missing ones."""

    name = "pod_based_enricher"

    def __init__(self, cluster: ClusterState, copier: LabelCopier | None = None) -> None:
        self.cluster = cluster
        self.copier = copier or LabelCopier()
        self._cache: dict[tuple[str, str], PodInfo] = {}
        self._shared = Shared()
        # Optional: a cluster state that can tell a pod's resourceVersion without building the object
        # (``pod_version(namespace, name) -> str | None``) lets unchanged pods skip ``get_pod``.
        self._pod_version: Callable[[str, str], str | None] | None = getattr(cluster, "pod_version", None)

    def apply(self, batch: DataBatch) -> None:
        """Enrich ``batch`` in place."""
        cols = batch.columns
        changes = _Changes(cols)
        used: dict[tuple[str, str], PodInfo] = {}
        types = cols.types
        pod_rows = np.flatnonzero((types == POD) | (types == POD_CONTAINER))
        all_labels = cols.labels
        for row, code in zip(pod_rows.tolist(), types[pod_rows].tolist(), strict=True):
            labels = all_labels[row]
            info = self._pod(labels.get("namespace_name", ""), labels.get("pod_name", ""), used)
            if info is None:
                continue
            if code == POD:
                self._add_pod_info(cols, changes, row, labels, info)
            else:
                self._add_container_info(cols, changes, row, labels, info)
        changes.apply(cols)
        self._cache = used

    def _pod(self, namespace: str, name: str, used: dict[tuple[str, str], PodInfo]) -> PodInfo | None:
        ident = (namespace, name)
        info = used.get(ident)
        if info is not None:
            return info
        cached = self._cache.get(ident)
        if (cached is not None and cached.version is not None and self._pod_version is not None
                and self._pod_version(namespace, name) == cached.version):
            used[ident] = cached
            return cached
        pod = self.cluster.get_pod(namespace, name)
        if pod is None:
            return None
        version = (pod.get("metadata") or {}).get("resourceVersion")
        if cached is None or version is None or cached.version != version:
            cached = PodInfo(pod, self.copier, self._shared)
        used[ident] = cached
        return cached

    def _add_container_info(self, cols: ColumnBatch, changes: _Changes, row: int, labels: dict[str, str],
                            info: PodInfo) -> None:
        cname = labels.get("container_name", "")
        container = info.containers.get(cname)
        if container is not None and cols.keys[row] != container.key:
            container = None
        if container is not None:
            changes.set_values(row, container.layout, container.numbers)
            labels.setdefault("container_base_image", container.image)
            if container.restarts and info.start_ns != MISSING:
                cols.create_time[row] = info.start_ns
        labels["pod_id"] = info.uid
        labels.update(info.copied_labels)
        pod_key = info.key  # the namespace and name of these labels: the pod was found by them
        if pod_key in changes.present:
            return
        log.debug("pod.stub.created", key=pod_key)
        pod_labels = {
            "type": keys.POD,
            "namespace_name": labels.get("namespace_name", ""),
            "pod_name": labels.get("pod_name", ""),
            **{name: labels.get(name, "") for name in _HOST_LABELS},
        }
        pod_row = changes.add_entity(pod_key, pod_labels, MISSING)
        self._add_pod_info(cols, changes, pod_row, pod_labels, info)

    def _add_pod_info(self, cols: ColumnBatch, changes: _Changes, row: int, labels: dict[str, str],
                      info: PodInfo) -> None:
        labels["pod_id"] = info.uid
        labels.update(info.copied_labels)
        existing = row < changes.size
        if info.start_ns != MISSING:
            if existing:
                cols.create_time[row] = info.start_ns
            else:
                changes.create_time[row - changes.size] = info.start_ns
        collection_start = int(cols.collection_start[row]) if existing else MISSING
        for cname, container in info.containers.items():
            ckey = container.key
            if ckey in changes.present:
                continue
            log.debug("container.stub.created", key=ckey)
            stub = changes.add_entity(ckey, {
                "type": keys.POD_CONTAINER,
                "namespace_name": info.namespace,
                "pod_name": info.name,
                "container_name": cname,
                "container_base_image": container.image,
                "pod_id": info.uid,
                **{name: labels.get(name, "") for name in _HOST_LABELS},
                **info.copied_labels,
            }, collection_start)
            changes.set_values(stub, container.stub_layout, container.stub_numbers)
