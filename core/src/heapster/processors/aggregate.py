"""Summing metric values across metric sets, shared by the aggregators."""

from __future__ import annotations

from collections.abc import Iterable

from heapster.model import MetricSet, MetricValue

RESOURCE_METRICS = ("cpu/usage_rate", "memory/usage", "cpu/request", "cpu/limit", "memory/request",
                    "memory/limit")
"""What the namespace and cluster aggregators sum."""

REQUEST_LIMIT_METRICS = ("cpu/request", "cpu/limit", "memory/request", "memory/limit",
                         "ephemeral_storage/request", "ephemeral_storage/limit")
"""What the node aggregator adds to nodes."""


def add_values(src: MetricSet, dst: MetricSet, names: Iterable[str]) -> None:
    """Add ``src``'s values of ``names`` to ``dst`` (missing ones skipped).

    Ints stay ints; a float on either side makes the sum a float (Heapster refused the batch).
    New :class:`MetricValue` objects are made, so no value is shared between sets.
    """
    src_values = src.values
    dst_values = dst.values
    for name in names:
        value = src_values.get(name)
        if value is None:
            continue
        total = dst_values.get(name)
        if total is None:
            dst_values[name] = MetricValue(value.value, value.metric_type)
        else:
            dst_values[name] = MetricValue(total.value + value.value, total.metric_type)
