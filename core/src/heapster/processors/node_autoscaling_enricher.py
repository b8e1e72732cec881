"""Node autoscaling enricher (HEAPSTER.md §5.8): node capacity, allocatable, utilization, reservation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog

from heapster.columns import MISSING, NODE, ColumnBatch
from heapster.interfaces import ClusterState, ColumnProcessor
from heapster.labelsets import compact
from heapster.model import DataBatch, MetricType
from heapster.pausepoint import pause
from heapster.processors.labels import LabelCopier
from heapster.processors.quantity import milli_value, value

PAUSE_NODES = 64
"""Node rows enriched between two pause points (:func:`heapster.pausepoint.pause`)."""

log = structlog.get_logger(__name__)

_GAUGE = MetricType.GAUGE
_NODE_PREFIX = "node:"


class NodeInfo:
    """Capacity, allocatable and copied labels of one Node object, computed once per node version."""

    __slots__ = ("copied_labels", "outputs", "resources", "version")

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
        self.outputs = [(f"{prefix}/node_capacity", f"{prefix}/node_allocatable", f"{prefix}/node_utilization",
                         f"{prefix}/node_reservation", capacity, allocatable, usage, request)
                        for prefix, capacity, allocatable, usage, request in self.resources]
        """Per resource: the four gauge names, capacity, allocatable and the usage and request metrics."""


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
        self._last_nodes: list[tuple[int, NodeInfo]] = []
        self._last_gauges: list[tuple[str, npt.NDArray[np.intp], npt.NDArray[np.float64], str]] = []
        """The last batch's node rows with their infos, and the gauges made of them (name, rows, values or
        divisors, dividend metric): the same rows and infos again make the same gauges (no step per node)."""

    def apply(self, batch: DataBatch) -> None:
        """Enrich the node sets of ``batch`` in place."""
        cols = batch.columns
        used: dict[str, NodeInfo] = {}
        enriched: dict[str, tuple[dict[str, str], NodeInfo, dict[str, str]]] = {}
        all_labels = cols.labels
        nodes: list[tuple[int, NodeInfo]] = []
        for index, row in enumerate(np.flatnonzero(cols.types == NODE).tolist()):
            if not index % PAUSE_NODES:
                pause()
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
                last = (labels, info, compact({**labels, **info.copied_labels}))
            enriched[name] = last
            all_labels[row] = last[2]
            nodes.append((row, info))
        if nodes != self._last_nodes:  # ints by value, infos by identity
            self._last_gauges = _gauges(nodes)
            self._last_nodes = nodes
        for name, row_array, numbers, dividend in self._last_gauges:
            pause()
            values = _numbers(cols, dividend, row_array) / numbers if dividend else numbers
            cols.set_values(name, row_array, values, _GAUGE)
        self._cache = used
        self._enriched = enriched


def _gauges(nodes: list[tuple[int, NodeInfo]]) -> list[tuple[str, npt.NDArray[np.intp], npt.NDArray[np.float64], str]]:
    """Per gauge, in the order first set: its rows, and per row the value (capacity, allocatable) or the divisor
    (allocatable) of the metric named last (usage, request: divided for all rows at once). Read only: kept for
    the next batch."""
    found: dict[str, tuple[list[int], list[float], str]] = {}
    for row, info in nodes:
        for capacity_name, allocatable_name, utilization, reservation, capacity, allocatable, usage, request \
                in info.outputs:
            _add(found, capacity_name, row, capacity, "")
            _add(found, allocatable_name, row, allocatable, "")
            if allocatable:
                _add(found, utilization, row, allocatable, usage)
                _add(found, reservation, row, allocatable, request)
    gauges = []
    for name, (rows, numbers, dividend) in found.items():
        row_array = np.array(rows, dtype=np.intp)
        values = np.array(numbers, dtype=np.float64)
        row_array.flags.writeable = values.flags.writeable = False
        gauges.append((name, row_array, values, dividend))
    return gauges


def _add(found: dict[str, tuple[list[int], list[float], str]], name: str, row: int, value: float,
         dividend: str) -> None:
    pending = found.get(name)
    if pending is None:
        pending = found[name] = ([], [], dividend)
    pending[0].append(row)
    pending[1].append(value)


def _numbers(cols: ColumnBatch, name: str, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    """The values of metric ``name`` at ``rows`` as floats; 0 where missing, as in Heapster.

    The same numbers as each value read alone and divided in Python: an int cell becomes the nearest float
    (as ``int / float`` converts it), a float cell is itself; missing is the int marker or NaN.
    """
    column = cols.values.get(name)
    if column is None:
        return np.zeros(len(rows), dtype=np.float64)
    data = column.data[rows]
    missing = data == MISSING
    if column.is_float:
        missing |= np.isnan(data)
    out: npt.NDArray[np.float64] = data.astype(np.float64)
    out[missing] = 0.0
    return out
