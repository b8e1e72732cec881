"""Node aggregator (HEAPSTER.md §5.6): pods' requests and limits added to their node."""

from __future__ import annotations

import numpy as np

from heapster import keys
from heapster.columns import POD
from heapster.interfaces import ColumnProcessor
from heapster.model import DataBatch
from heapster.processors.aggregate import REQUEST_LIMIT_METRICS, add_grouped


class NodeAggregator(ColumnProcessor):
    """Adds each pod's requests and limits to ``node:<nodename>`` when that set exists."""

    name = "node_aggregator"

    def apply(self, batch: DataBatch) -> None:
        """Aggregate ``batch`` in place."""
        cols = batch.columns
        sources: list[int] = []
        targets: list[int] = []
        node_rows: dict[str, int | None] = {}
        for row in cols.rows_of_type(POD).tolist():
            nodename = cols.labels[row].get("nodename")
            if not nodename:
                continue
            node_row = node_rows.get(nodename, -1)
            if node_row == -1:
                node_row = node_rows[nodename] = cols.row_of(keys.node_key(nodename))
            if node_row is not None:
                sources.append(row)
                targets.append(node_row)
        if sources:
            add_grouped(cols, REQUEST_LIMIT_METRICS, np.array(sources, dtype=np.intp),
                        np.array(targets, dtype=np.intp))
