"""A shard's partial namespace and cluster sums of one window, and the whole cluster's from all of them.

The namespace aggregator sums pods into namespaces and the cluster aggregator sums namespaces into
the cluster (:data:`heapster.processors.aggregate.RESOURCE_METRICS`, nothing but sums), so the
whole cluster's value is the sum of every shard's partial value: a sum of sums. As the aggregators
do, a sum is an int only if every term was.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

import numpy as np

from heapster.columns import CLUSTER, NAMESPACE, BatchBuilder, ColumnBatch
from heapster.model import MetricType

Partial = dict[str, dict[str, Any]]
"""``{entity key: {"labels": {...}, "values": {metric: [value, metric type]}}}``, JSON as it is."""

AGGREGATE_CODES = (NAMESPACE, CLUSTER)


def split_aggregates(cols: ColumnBatch) -> tuple[ColumnBatch, Partial]:
    """The batch without its namespace and cluster entities, and those entities as a :data:`Partial`."""
    aggregate = np.isin(cols.types, AGGREGATE_CODES)
    if not aggregate.any():
        return cols, {}
    partial: Partial = {}
    for row in np.flatnonzero(aggregate).tolist():
        values: dict[str, list[Any]] = {}
        for name, column in cols.values.items():
            value = column.cell(row)
            if value is not None:
                values[name] = [value, int(column.metric_type)]
        partial[cols.keys[row]] = {"labels": dict(cols.labels[row]), "values": values}
    return cols.select(np.flatnonzero(~aggregate)), partial


def combine(partials: list[Partial]) -> ColumnBatch:
    """The whole cluster's namespace and cluster entities: each metric summed over ``partials`` in order.

    An entity or metric only some shards have is summed over those; labels are the first shard's
    that has the entity.
    """
    labels: dict[str, dict[str, str]] = {}
    sums: dict[str, dict[str, tuple[int | float, int]]] = {}
    for partial in partials:
        for key, entity in partial.items():
            labels.setdefault(key, dict(entity["labels"]))
            totals = sums.setdefault(key, {})
            for name, (value, metric_type) in entity["values"].items():
                if name in totals:
                    value = totals[name][0] + value  # noqa: PLW2901 - int + int stays int, else float
                totals[name] = (value, metric_type)
    builder = BatchBuilder()
    for key, entity_labels in labels.items():
        row = builder.entity(key, entity_labels)
        for name, (value, metric_type) in sums[key].items():
            builder.value(row, name, value, MetricType(metric_type))
    return builder.build()


class PartialsBook:
    """This shard's partials of its last few windows (by window end, epoch seconds), for its peers."""

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self._windows: OrderedDict[int, Partial] = OrderedDict()
        self._changed = asyncio.Condition()

    async def put(self, window: int, partial: Partial) -> None:
        """Record the partials of ``window`` and wake whoever waits for them."""
        async with self._changed:
            self._windows[window] = partial
            while len(self._windows) > self.keep:
                self._windows.popitem(last=False)
            self._changed.notify_all()

    def get(self, window: int) -> Partial | None:
        """The partials of ``window`` if recorded and still kept."""
        return self._windows.get(window)

    async def wait_for(self, window: int, timeout: float) -> Partial | None:
        """The partials of ``window``, waiting up to ``timeout`` seconds for them to be recorded."""
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(lambda: window in self._windows or self._passed(window))
            except TimeoutError:
                return None
            return self._windows.get(window)

    def _passed(self, window: int) -> bool:
        """A later window is recorded: ``window`` never will be (its housekeep was skipped or failed)."""
        return bool(self._windows) and next(reversed(self._windows)) > window
