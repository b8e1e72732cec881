"""Pod aggregator (HEAPSTER.md §5.4): pod values as the sum of their containers'."""

from __future__ import annotations

import structlog

from heapster import keys
from heapster.catalogue import CUMULATIVE_STANDARD
from heapster.interfaces import Processor
from heapster.model import DataBatch, MetricSet, MetricType, MetricValue

log = structlog.get_logger(__name__)

COPIED_LABELS = ("pod_id", "pod_name", "namespace_name", "namespace_id", "nodename", "hostname", "host_id")
"""Labels a pod set made from its containers inherits (Heapster forgot ``nodename``)."""


class PodAggregator(Processor):
    """Sums container values into their pod, except cumulative standard metrics.

    A value the pod already had before aggregation (e.g. pod-level memory from the
    kubelet) is kept; a missing pod set is created from its containers' labels.
    """

    name = "pod_aggregator"

    async def process(self, batch: DataBatch) -> DataBatch:
        self.apply(batch)
        return batch

    def apply(self, batch: DataBatch) -> None:
        """Aggregate ``batch`` in place."""
        sets = batch.metric_sets
        by_pod: dict[str, list[MetricSet]] = {}
        for key, ms in sets.items():
            labels = ms.labels
            if labels.get("type") != keys.POD_CONTAINER:
                continue
            pod_name = labels.get("pod_name")
            namespace = labels.get("namespace_name")
            if pod_name is None or namespace is None:
                log.error("pod.aggregate.unlabeled", key=key)
                continue
            by_pod.setdefault(keys.pod_key(namespace, pod_name), []).append(ms)
        skipped = CUMULATIVE_STANDARD
        for pod_key, containers in by_pod.items():
            pod = sets.get(pod_key)
            if pod is None:
                first = containers[0].labels
                pod = MetricSet(labels={"type": keys.POD, **{k: first[k] for k in COPIED_LABELS if k in first}})
                sets[pod_key] = pod
                log.debug("pod.aggregate.created", key=pod_key)
            own = pod.values
            excluded = skipped | own.keys()
            sums: dict[str, int | float] = {}
            kinds: dict[str, MetricType] = {}
            for container in containers:
                values = container.values
                for name in values.keys() - excluded:
                    value = values[name]
                    if name in sums:
                        sums[name] += value.value
                    else:
                        sums[name] = value.value
                        kinds[name] = value.metric_type
            for name, total in sums.items():
                own[name] = MetricValue(total, kinds[name])
