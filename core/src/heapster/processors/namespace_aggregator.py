"""Namespace aggregator (HEAPSTER.md §5.5): namespace sets summed from their pods."""

from __future__ import annotations

from heapster import keys
from heapster.interfaces import Processor
from heapster.model import DataBatch, MetricSet
from heapster.processors.aggregate import RESOURCE_METRICS, add_values


class NamespaceAggregator(Processor):
    """Creates ``namespace:<ns>`` sets and adds each pod's usage, requests and limits."""

    name = "namespace_aggregator"

    async def process(self, batch: DataBatch) -> DataBatch:
        self.apply(batch)
        return batch

    def apply(self, batch: DataBatch) -> None:
        """Aggregate ``batch`` in place."""
        sets = batch.metric_sets
        pods = [ms for ms in sets.values() if ms.labels.get("type") == keys.POD]
        for pod in pods:
            namespace = pod.labels.get("namespace_name")
            if namespace is None:
                continue
            ns_key = keys.namespace_key(namespace)
            ns = sets.get(ns_key)
            if ns is None:
                ns = MetricSet(labels={"type": keys.NAMESPACE, "namespace_name": namespace,
                                       "namespace_id": pod.labels.get("namespace_id", "")})
                sets[ns_key] = ns
            add_values(pod, ns, RESOURCE_METRICS)
