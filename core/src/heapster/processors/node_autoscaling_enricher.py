"""Node autoscaling enricher (HEAPSTER.md §5.8): node capacity, allocatable, utilization, reservation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from heapster import keys
from heapster.interfaces import ClusterState, Processor
from heapster.model import DataBatch, MetricSet, MetricType, MetricValue
from heapster.processors.labels import LabelCopier
from heapster.processors.quantity import milli_value, value

log = structlog.get_logger(__name__)

_GAUGE = MetricType.GAUGE
_NODE_PREFIX = "node:"


class NodeInfo:
    """Capacity, allocatable and copied labels of one Node object, computed once per node version."""

    __slots__ = ("copied_labels", "resources", "version")

    def __init__(self, node: Mapping[str, Any], copier: LabelCopier) -> None:
        meta = node.get("metadata") or {}
        status = node.get("status") or {}
        self.version = meta.get("resourceVersion")
        self.copied_labels = copier.copied(meta.get("labels"))
        capacity = status.get("capacity") or {}
        allocatable = status.get("allocatable") or {}
        # (prefix, capacity, allocatable, usage metric, request metric)
        self.resources: list[tuple[str, float, float, str, str]] = []
        name = meta.get("name", "")
        try:
            self.resources.append(("cpu", float(milli_value(capacity.get("cpu", 0))),
                                   float(milli_value(allocatable.get("cpu", 0))), "cpu/usage_rate", "cpu/request"))
            self.resources.append(("memory", float(value(capacity.get("memory", 0))),
                                   float(value(allocatable.get("memory", 0))), "memory/usage", "memory/request"))
            if "ephemeral-storage" in capacity and "ephemeral-storage" in allocatable:
                self.resources.append(("ephemeral_storage", float(value(capacity["ephemeral-storage"])),
                                       float(value(allocatable["ephemeral-storage"])),
                                       "ephemeral_storage/usage", "ephemeral_storage/request"))
        except ValueError as exc:
            log.warning("node.quantity.invalid", node=name, error=str(exc))


def _number(ms: MetricSet, name: str) -> int | float:
    found = ms.values.get(name)
    return 0 if found is None else found.value


class NodeAutoscalingEnricher(Processor):
    """Adds node labels and the ``*/node_*`` gauges the cluster autoscaler read.

    Missing usage or request inputs count as 0, as in Heapster; utilization and
    reservation are only set when allocatable is not 0.
    """

    name = "node_autoscaling_enricher"

    def __init__(self, cluster: ClusterState, copier: LabelCopier | None = None) -> None:
        self.cluster = cluster
        self.copier = copier or LabelCopier()
        self._cache: dict[str, NodeInfo] = {}

    async def process(self, batch: DataBatch) -> DataBatch:
        self.apply(batch)
        return batch

    def apply(self, batch: DataBatch) -> None:
        """Enrich the node sets of ``batch`` in place."""
        used: dict[str, NodeInfo] = {}
        for key, ms in batch.metric_sets.items():
            if ms.labels.get("type") != keys.NODE or not key.startswith(_NODE_PREFIX):
                continue
            name = key[len(_NODE_PREFIX):]
            node = self.cluster.get_node(name)
            if node is None:
                continue
            info = self._cache.get(name)
            version = (node.get("metadata") or {}).get("resourceVersion")
            if info is None or version is None or info.version != version:
                info = NodeInfo(node, self.copier)
            used[name] = info
            ms.labels.update(info.copied_labels)
            values = ms.values
            for prefix, capacity, allocatable, usage, request in info.resources:
                values[f"{prefix}/node_capacity"] = MetricValue(capacity, _GAUGE)
                values[f"{prefix}/node_allocatable"] = MetricValue(allocatable, _GAUGE)
                if allocatable:
                    values[f"{prefix}/node_utilization"] = MetricValue(_number(ms, usage) / allocatable, _GAUGE)
                    values[f"{prefix}/node_reservation"] = MetricValue(_number(ms, request) / allocatable, _GAUGE)
        self._cache = used
