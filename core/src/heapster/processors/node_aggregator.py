"""Node aggregator (HEAPSTER.md §5.6): pods' requests and limits added to their node."""

from __future__ import annotations

from heapster import keys
from heapster.interfaces import Processor
from heapster.model import DataBatch
from heapster.processors.aggregate import REQUEST_LIMIT_METRICS, add_values


class NodeAggregator(Processor):
    """Adds each pod's requests and limits to ``node:<nodename>`` when that set exists."""

    name = "node_aggregator"

    async def process(self, batch: DataBatch) -> DataBatch:
        self.apply(batch)
        return batch

    def apply(self, batch: DataBatch) -> None:
        """Aggregate ``batch`` in place."""
        sets = batch.metric_sets
        for ms in sets.values():
            labels = ms.labels
            if labels.get("type") != keys.POD:
                continue
            nodename = labels.get("nodename")
            if not nodename:
                continue
            node = sets.get(keys.node_key(nodename))
            if node is not None:
                add_values(ms, node, REQUEST_LIMIT_METRICS)
