"""Pod aggregator (HEAPSTER.md §5.4): pod values as the sum of their containers'."""

from __future__ import annotations

import structlog

from heapster import keys
from heapster.catalogue import CUMULATIVE_STANDARD
from heapster.columns import POD_CONTAINER
from heapster.interfaces import ColumnProcessor
from heapster.model import DataBatch
from heapster.processors.aggregate import Grouping

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
        groups = Grouping(cols)
        all_labels = cols.labels
        sources: list[int] = []
        pods: list[str] = []
        for row in cols.rows_of_type(POD_CONTAINER).tolist():
            get = all_labels[row].get
            pod_name = get("pod_name")
            namespace = get("namespace_name")
            if pod_name is None or namespace is None:
                log.error("pod.aggregate.unlabeled", key=cols.keys[row])
                continue
            sources.append(row)
            pods.append(f"namespace:{namespace}/pod:{pod_name}")  # keys.pod_key, inlined (a row each)
        groups.add_all(sources, pods, _pod_labels)
        for key in groups.created():
            log.debug("pod.aggregate.created", key=key)
        groups.apply([name for name in cols.values if name not in CUMULATIVE_STANDARD], only_missing=True)


def _pod_labels(container: dict[str, str]) -> dict[str, str]:
    return {"type": keys.POD, **{k: container[k] for k in COPIED_LABELS if k in container}}
