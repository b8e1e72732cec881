"""Node aggregator (HEAPSTER.md §5.6): pods' requests and limits added to their node."""

from __future__ import annotations

import numpy as np

from heapster import keys
from heapster.columns import POD, ColumnBatch, RowArray
from heapster.interfaces import ColumnProcessor
from heapster.model import DataBatch
from heapster.pausepoint import pause
from heapster.processors.aggregate import REQUEST_LIMIT_METRICS, SameInput, add_grouped

PAUSE_ROWS = 8192
"""Pod rows paired with their node between two pause points (:func:`heapster.pausepoint.pause`)."""


class NodeAggregator(ColumnProcessor):
    """Adds each pod's requests and limits to ``node:<nodename>`` when that set exists."""

    name = "node_aggregator"

    def __init__(self) -> None:
        self._input = SameInput()
        self._last: tuple[RowArray, RowArray] | None = None
        """The last batch's (source rows, target rows)."""

    def apply(self, batch: DataBatch) -> None:
        """Aggregate ``batch`` in place."""
        cols = batch.columns
        pod_rows = cols.rows_of_type(POD)
        if not self._input.check(cols, pod_rows) or self._last is None:  # the same keys and pod dicts: the same
            self._last = self._pairs(cols, pod_rows.tolist())
        sources, targets = self._last
        if len(sources):
            add_grouped(cols, REQUEST_LIMIT_METRICS, sources, targets)

    @staticmethod
    def _pairs(cols: ColumnBatch, pod_rows: list[int]) -> tuple[RowArray, RowArray]:
        sources: list[int] = []
        targets: list[int] = []
        node_rows: dict[str, int | None] = {}
        for index, row in enumerate(pod_rows):
            if not index % PAUSE_ROWS:
                pause()
            nodename = cols.labels[row].get("nodename")
            if not nodename:
                continue
            node_row = node_rows.get(nodename, -1)
            if node_row == -1:
                node_row = node_rows[nodename] = cols.row_of(keys.node_key(nodename))
            if node_row is not None:
                sources.append(row)
                targets.append(node_row)
        return np.array(sources, dtype=np.intp), np.array(targets, dtype=np.intp)
