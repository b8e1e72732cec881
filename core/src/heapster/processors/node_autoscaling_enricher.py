"""Node autoscaling enricher (HEAPSTER.md §5.8): node capacity, allocatable, utilization, reservation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import structlog

from heapster.columns import NODE, ColumnBatch
from heapster.interfaces import ClusterState, ColumnProcessor
from heapster.model import DataBatch, MetricType
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


class NodeAutoscalingEnricher(ColumnProcessor):
    """Adds node labels and the ``*/node_*`` gauges the cluster autoscaler read.

    Missing usage or request inputs count as 0, as in Heapster; utilization and
    reservation are only set when allocatable is not 0.
    """

    name = "node_autoscaling_enricher"

    def __init__(self, cluster: ClusterState, copier: LabelCopier | None = None) -> None:
        self.cluster = cluster
        self.copier = copier or LabelCopier()
        self._cache: dict[str, NodeInfo] = {}
        self._enriched: dict[str, tuple[dict[str, str], NodeInfo, dict[str, str]]] = {}
        """Node name -> (input label dict, node info, enriched dict) of the last batch: label sets are shared,
        so a row's dict is replaced by its enriched twin, made once per input dict and node version."""

    def apply(self, batch: DataBatch) -> None:
        """Enrich the node sets of ``batch`` in place."""
        cols = batch.columns
        used: dict[str, NodeInfo] = {}
        enriched: dict[str, tuple[dict[str, str], NodeInfo, dict[str, str]]] = {}
        all_labels = cols.labels
        found: dict[str, tuple[list[int], list[float]]] = {}
        for row in np.flatnonzero(cols.types == NODE).tolist():
            key = cols.keys[row]
            if not key.startswith(_NODE_PREFIX):
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
            labels = all_labels[row]
            last = self._enriched.get(name)
            if last is None or last[0] is not labels or last[1] is not info:
                last = (labels, info, {**labels, **info.copied_labels})
            enriched[name] = last
            all_labels[row] = last[2]
            for prefix, capacity, allocatable, usage, request in info.resources:
                _add(found, f"{prefix}/node_capacity", row, capacity)
                _add(found, f"{prefix}/node_allocatable", row, allocatable)
                if allocatable:
                    _add(found, f"{prefix}/node_utilization", row, _number(cols, usage, row) / allocatable)
                    _add(found, f"{prefix}/node_reservation", row, _number(cols, request, row) / allocatable)
        for name, (rows, values) in found.items():
            cols.set_values(name, np.array(rows, dtype=np.intp), np.array(values, dtype=np.float64), _GAUGE)
        self._cache = used
        self._enriched = enriched


def _add(found: dict[str, tuple[list[int], list[float]]], name: str, row: int, value: float) -> None:
    pending = found.get(name)
    if pending is None:
        pending = found[name] = ([], [])
    pending[0].append(row)
    pending[1].append(value)


def _number(cols: ColumnBatch, name: str, row: int) -> int | float:
    """The value of metric ``name`` of ``row``; 0 when missing, as in Heapster."""
    column = cols.values.get(name)
    value: int | float | None = None if column is None else column.cell(row)
    return 0 if value is None else value
