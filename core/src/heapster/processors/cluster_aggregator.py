"""Cluster aggregator (HEAPSTER.md §5.7): the ``cluster`` set summed from the namespaces."""

from __future__ import annotations

from heapster import keys
from heapster.interfaces import Processor
from heapster.model import DataBatch, MetricSet
from heapster.processors.aggregate import RESOURCE_METRICS, add_values


class ClusterAggregator(Processor):
    """(Re)creates ``cluster`` with the namespaces' summed usage, requests and limits."""

    name = "cluster_aggregator"

    async def process(self, batch: DataBatch) -> DataBatch:
        self.apply(batch)
        return batch

    def apply(self, batch: DataBatch) -> None:
        """Aggregate ``batch`` in place."""
        cluster = MetricSet(labels={"type": keys.CLUSTER})
        for ms in batch.metric_sets.values():
            if ms.labels.get("type") == keys.NAMESPACE:
                add_values(ms, cluster, RESOURCE_METRICS)
        batch.metric_sets[keys.CLUSTER_KEY] = cluster
