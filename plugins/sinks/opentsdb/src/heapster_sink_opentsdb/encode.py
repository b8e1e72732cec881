"""A batch as OpenTSDB data points (Heapster's ``metrics/sinks/opentsdb/driver.go``).

* metric: the metric name with every character outside ``[A-Za-z0-9-_./]`` and then ``/`` replaced by
  ``_``, plus ``_<type>`` (``cpu/usage`` -> ``cpu_usage_cumulative``, ``memory/usage`` -> ``memory_usage_gauge``);
* tags: every label of the metric set, names and values sanitised the same way (``/`` kept), empty
  values left out, plus ``cluster=<cluster option>``;
* timestamp: the batch time in seconds; value: integer or float.

Only metric values are written: Heapster's OpenTSDB sink skipped labeled metrics (``filesystem/*`` per
device), and so does this one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from heapster.columns import cells_in_set_order
from heapster.errors import Rejections
from heapster.model import DataBatch, MetricType

CLUSTER_TAG = "cluster"
_DISALLOWED = re.compile(r"[^A-Za-z0-9\-_./]")


def sanitize(text: str) -> str:
    """Heapster's ``toValidOpenTsdbName``: characters OpenTSDB refuses become ``_``."""
    return _DISALLOWED.sub("_", text)


@dataclass(slots=True)
class Encoded(Rejections):
    """The data points of one batch, and the values that could not be written."""

    points: list[dict[str, Any]] = field(default_factory=list)


def encode_batch(batch: DataBatch, cluster: str) -> Encoded:
    """Every metric value of the batch as an ``/api/put`` data point."""
    out = Encoded()
    timestamp = int(batch.timestamp.timestamp())
    cols = batch.columns
    row_tags: dict[int, dict[str, str]] = {}
    names: dict[tuple[str, MetricType], str] = {}
    for row, name, metric_type, raw, own in cells_in_set_order(cols):
        if own is not None:  # labeled metrics were never sent to OpenTSDB (as Heapster)
            continue
        tags = row_tags.get(row)
        if tags is None:
            tags = {sanitize(k): sanitize(v) for k, v in cols.labels[row].items()}
            tags = row_tags[row] = {k: v for k, v in tags.items() if v}
            tags[CLUSTER_TAG] = cluster
        metric = names.get((name, metric_type))
        if metric is None:
            metric = names[name, metric_type] = f"{sanitize(name).replace('/', '_')}_{metric_type.label}"
        if isinstance(raw, float) and not math.isfinite(raw):
            out.reject(f"{metric} = {raw!r}")
            continue
        out.points.append({"metric": metric, "timestamp": timestamp, "value": raw, "tags": tags})
    return out
