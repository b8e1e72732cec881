"""Namespace aggregator (HEAPSTER.md §5.5): namespace sets summed from their pods."""

from __future__ import annotations

import numpy as np

from heapster import keys
from heapster.columns import POD, ColumnBatch, RowArray
from heapster.interfaces import ColumnProcessor
from heapster.model import DataBatch
from heapster.pausepoint import pause
from heapster.processors.aggregate import RESOURCE_METRICS, Grouping, SameInput, add_grouped


class NamespaceAggregator(ColumnProcessor):
    """Creates ``namespace:<ns>`` sets and adds each pod's usage, requests and limits."""

    name = "namespace_aggregator"

    def __init__(self) -> None:
        self._made: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
        self._input = SameInput()
        self._last: tuple[RowArray, RowArray, list[str], list[dict[str, str]]] | None = None
        """The last batch's (source rows, target rows, namespace sets created, their labels)."""

    def apply(self, batch: DataBatch) -> None:
        """Aggregate ``batch`` in place."""
        cols = batch.columns
        pod_rows = cols.rows_of_type(POD)
        if not self._input.check(cols, pod_rows) or self._last is None:  # the same keys and pod dicts: the same
            self._last = self._group(cols, pod_rows.tolist())
        sources, targets, created, labels = self._last
        if created:
            cols.add_entities(created, labels)
        if len(sources):
            add_grouped(cols, RESOURCE_METRICS, sources, targets)

    def _group(self, cols: ColumnBatch, rows: list[int]) -> tuple[RowArray, RowArray, list[str], list[dict[str, str]]]:
        groups = Grouping(cols)
        all_labels = cols.labels
        found = [all_labels[row].get("namespace_name") for row in rows]
        pause()
        if None in found:
            rows = [row for row, namespace in zip(rows, found, strict=True) if namespace is not None]
        namespaces = [namespace for namespace in found if namespace is not None]
        named = {namespace: keys.namespace_key(namespace) for namespace in dict.fromkeys(namespaces)}
        pause()
        groups.add_all(rows, list(map(named.__getitem__, namespaces)), _namespace_labels, self._made)
        return (np.array(groups.sources, dtype=np.intp), np.array(groups.targets, dtype=np.intp), groups.created(),
                groups.created_labels())


def _namespace_labels(pod: dict[str, str]) -> dict[str, str]:
    return {"type": keys.NAMESPACE, "namespace_name": pod["namespace_name"],
            "namespace_id": pod.get("namespace_id", "")}
