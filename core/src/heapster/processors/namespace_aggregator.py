"""Namespace aggregator (HEAPSTER.md §5.5): namespace sets summed from their pods."""

from __future__ import annotations

import numpy as np

from heapster import keys
from heapster.columns import POD
from heapster.interfaces import ColumnProcessor
from heapster.model import DataBatch
from heapster.processors.aggregate import RESOURCE_METRICS, add_grouped


class NamespaceAggregator(ColumnProcessor):
    """Creates ``namespace:<ns>`` sets and adds each pod's usage, requests and limits."""

    name = "namespace_aggregator"

    def apply(self, batch: DataBatch) -> None:
        """Aggregate ``batch`` in place."""
        cols = batch.columns
        sources: list[int] = []
        targets: list[int] = []
        new_keys: list[str] = []
        new_labels: list[dict[str, str]] = []
        new_rows: dict[str, int] = {}
        size = len(cols)
        for row in cols.rows_of_type(POD).tolist():
            labels = cols.labels[row]
            namespace = labels.get("namespace_name")
            if namespace is None:
                continue
            ns_key = keys.namespace_key(namespace)
            ns_row = cols.row_of(ns_key)
            if ns_row is None:
                ns_row = new_rows.get(ns_key)
                if ns_row is None:
                    ns_row = new_rows[ns_key] = size + len(new_keys)
                    new_keys.append(ns_key)
                    new_labels.append({"type": keys.NAMESPACE, "namespace_name": namespace,
                                       "namespace_id": labels.get("namespace_id", "")})
            sources.append(row)
            targets.append(ns_row)
        if new_keys:
            cols.add_entities(new_keys, new_labels)
        if sources:
            add_grouped(cols, RESOURCE_METRICS, np.array(sources, dtype=np.intp), np.array(targets, dtype=np.intp))
