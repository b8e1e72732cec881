"""Cluster aggregator (HEAPSTER.md §5.7): the ``cluster`` set summed from the namespaces."""

from __future__ import annotations

import numpy as np

from heapster import keys
from heapster.columns import MISSING, NAMESPACE
from heapster.interfaces import ColumnProcessor
from heapster.model import DataBatch
from heapster.processors.aggregate import RESOURCE_METRICS, add_grouped, kept_keys


class ClusterAggregator(ColumnProcessor):
    """(Re)creates ``cluster`` with the namespaces' summed usage, requests and limits."""

    name = "cluster_aggregator"

    def __init__(self) -> None:
        self._labels = {"type": keys.CLUSTER}
        """The cluster set's labels, one dict for every batch (label sets are shared and read-only)."""
        self._keys: list[str] = []
        self._row: int | None = None
        """The last batch's keys and the row of ``cluster`` among them (the same keys again: the same row, after
        one comparison of the lists, pointer by pointer for the same strings)."""

    def apply(self, batch: DataBatch) -> None:
        """Aggregate ``batch`` in place."""
        cols = batch.columns
        if len(cols.keys) == len(self._keys) and cols.keys == self._keys:
            row = self._row
        else:
            row = self._row = cols.find(keys.CLUSTER_KEY)
            self._keys = kept_keys(cols.keys)
        if row is None:
            row = int(cols.add_entities([keys.CLUSTER_KEY], [self._labels])[0])
        else:  # made anew, as Heapster replaced the set
            cols.labels[row] = self._labels
            for times in (cols.collection_start, cols.create_time, cols.scrape_time):
                times[row] = MISSING
            for column in cols.values.values():
                column.data[row] = np.nan if column.is_float else MISSING
        namespaces = cols.rows_of_type(NAMESPACE)
        if len(namespaces):
            add_grouped(cols, RESOURCE_METRICS, namespaces, np.full(len(namespaces), row, dtype=np.intp))
