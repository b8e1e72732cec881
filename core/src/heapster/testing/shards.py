"""Test helpers for ``--shard``: a fixed list of EndpointSlices standing in for the API server's, and a
window as one shard has it."""

from __future__ import annotations

from typing import Any

import numpy as np

from heapster.model import DataBatch
from heapster.processors.cluster_aggregator import ClusterAggregator
from heapster.processors.namespace_aggregator import NamespaceAggregator
from heapster.processors.pod_aggregator import PodAggregator
from heapster.scheduler import in_shard


def shard_of(batch: DataBatch, index: int, count: int) -> DataBatch:
    """The rows of ``batch`` whose node belongs to shard ``index`` of ``count`` (what that shard scrapes)."""
    cols = batch.columns
    rows = [row for row, labels in enumerate(cols.labels) if in_shard(labels["nodename"], index, count)]
    return DataBatch(batch.timestamp, columns=cols.select(np.array(rows, dtype=np.intp)))


def aggregated(batch: DataBatch) -> DataBatch:
    """``batch`` after the pod, namespace and cluster aggregators (in place, returned)."""
    for processor in (PodAggregator(), NamespaceAggregator(), ClusterAggregator()):
        processor.apply(batch)
    return batch


class StaticEndpointSlices:
    """An :class:`heapster.shards.discovery.EndpointSliceWatch` over slices a test adds (no API server)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def slices(self) -> list[dict[str, Any]]:
        return self.items

    def add(self, name: str, port: int, *, ready: bool | None = True) -> None:
        """A peer ``name`` at ``127.0.0.1:port`` (``ready=None``: the slice gives no readiness)."""
        endpoint: dict[str, Any] = {"addresses": ["127.0.0.1"], "hostname": name}
        if ready is not None:
            endpoint["conditions"] = {"ready": ready}
        self.items.append({"endpoints": [endpoint], "ports": [{"port": port}]})
