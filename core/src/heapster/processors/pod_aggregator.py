"""Pod aggregator (HEAPSTER.md §5.4): pod values as the sum of their containers'."""

from __future__ import annotations

import numpy as np
import structlog

from heapster import keys
from heapster.catalogue import CUMULATIVE_STANDARD
from heapster.columns import POD_CONTAINER
from heapster.interfaces import ColumnProcessor
from heapster.model import DataBatch
from heapster.processors.aggregate import add_grouped

log = structlog.get_logger(__name__)

COPIED_LABELS = ("pod_id", "pod_name", "namespace_name", "namespace_id", "nodename", "hostname", "host_id")
"""Labels a pod set made from its containers inherits (Heapster forgot ``nodename``)."""


class PodAggregator(ColumnProcessor):
    """Sums container values into their pod, except cumulative standard metrics.

    A value the pod already had before aggregation (e.g. pod-level memory from the
    kubelet) is kept; a missing pod set is created from its containers' labels.
    """

    name = "pod_aggregator"

    def apply(self, batch: DataBatch) -> None:
        """Aggregate ``batch`` in place."""
        cols = batch.columns
        sources: list[int] = []
        targets: list[int] = []
        new_keys: list[str] = []
        new_labels: list[dict[str, str]] = []
        new_rows: dict[str, int] = {}
        size = len(cols)
        for row in cols.rows_of_type(POD_CONTAINER).tolist():
            labels = cols.labels[row]
            pod_name = labels.get("pod_name")
            namespace = labels.get("namespace_name")
            if pod_name is None or namespace is None:
                log.error("pod.aggregate.unlabeled", key=cols.keys[row])
                continue
            pod_key = keys.pod_key(namespace, pod_name)
            pod_row = cols.row_of(pod_key)
            if pod_row is None:
                pod_row = new_rows.get(pod_key)
                if pod_row is None:
                    pod_row = new_rows[pod_key] = size + len(new_keys)
                    new_keys.append(pod_key)
                    new_labels.append({"type": keys.POD, **{k: labels[k] for k in COPIED_LABELS if k in labels}})
                    log.debug("pod.aggregate.created", key=pod_key)
            sources.append(row)
            targets.append(pod_row)
        if not sources:
            return
        if new_keys:
            cols.add_entities(new_keys, new_labels)
        names = [name for name in cols.values if name not in CUMULATIVE_STANDARD]
        add_grouped(cols, names, np.array(sources, dtype=np.intp), np.array(targets, dtype=np.intp),
                    only_missing=True)
