"""Namespace aggregator (HEAPSTER.md §5.5): namespace sets summed from their pods."""

from __future__ import annotations

from heapster import keys
from heapster.columns import POD
from heapster.interfaces import ColumnProcessor
from heapster.model import DataBatch
from heapster.processors.aggregate import RESOURCE_METRICS, Grouping


class NamespaceAggregator(ColumnProcessor):
    """Creates ``namespace:<ns>`` sets and adds each pod's usage, requests and limits."""

    name = "namespace_aggregator"

    def __init__(self) -> None:
        self._made: dict[str, tuple[dict[str, str], dict[str, str]]] = {}

    def apply(self, batch: DataBatch) -> None:
        """Aggregate ``batch`` in place."""
        cols = batch.columns
        groups = Grouping(cols)
        all_labels = cols.labels
        rows = cols.rows_of_type(POD).tolist()
        namespaces = [all_labels[row].get("namespace_name") for row in rows]
        if None in namespaces:
            rows = [row for row, namespace in zip(rows, namespaces, strict=True) if namespace is not None]
            namespaces = [namespace for namespace in namespaces if namespace is not None]
        named = {namespace: keys.namespace_key(namespace) for namespace in dict.fromkeys(namespaces)}
        groups.add_all(rows, list(map(named.__getitem__, namespaces)), _namespace_labels, self._made)
        groups.apply(RESOURCE_METRICS)


def _namespace_labels(pod: dict[str, str]) -> dict[str, str]:
    return {"type": keys.NAMESPACE, "namespace_name": pod["namespace_name"],
            "namespace_id": pod.get("namespace_id", "")}
