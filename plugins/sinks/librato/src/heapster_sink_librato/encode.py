"""A batch as Librato tagged measurements (Heapster's ``metrics/sinks/librato/librato.go``).

* name: ``<prefix>`` + the metric name with ``/`` as ``.``; characters Librato refuses become ``_``;
  at most 255 characters;
* tags: every label of the metric set and, for a labeled metric, its own labels; names limited to
  ``[-.:_A-Za-z0-9]`` (64 characters), values to ``[-.:_A-Za-z0-9 ]`` (255 characters), others become
  ``_``; empty values are left out (Librato refuses them);
* value: the number as a float; time: the batch time in seconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from heapster.columns import cells_in_set_order
from heapster.errors import Rejections
from heapster.model import DataBatch
from heapster_sink_librato.config import LibratoConfig

MAX_NAME, MAX_TAG_NAME, MAX_TAG_VALUE = 255, 64, 255
_BAD_NAME = re.compile(r"[^A-Za-z0-9.:_\-]")
_BAD_TAG_NAME = re.compile(r"[^-.:_\w]", re.ASCII)
_BAD_TAG_VALUE = re.compile(r"[^-.:_\w ]", re.ASCII)


@dataclass(slots=True)
class Encoded(Rejections):
    """The measurements of one batch, and the values that could not be written."""

    measurements: list[dict[str, Any]] = field(default_factory=list)


def measurement_name(prefix: str, metric: str) -> str:
    return _BAD_NAME.sub("_", prefix + metric.replace("/", "."))[:MAX_NAME]


def tag_name(text: str) -> str:
    return _BAD_TAG_NAME.sub("_", text)[:MAX_TAG_NAME]


def tag_value(text: str) -> str:
    return _BAD_TAG_VALUE.sub("_", text)[:MAX_TAG_VALUE]


def _tags(labels: Mapping[str, str]) -> dict[str, str]:
    return {tag_name(k): tag_value(v) for k, v in labels.items() if v}


def encode_batch(batch: DataBatch, config: LibratoConfig) -> Encoded:
    """Every value and labeled metric of the batch as a measurement."""
    out = Encoded()
    timestamp = int(batch.timestamp.timestamp())

    def add(name: str, raw: int | float, tags: dict[str, str]) -> None:
        if not math.isfinite(raw):
            out.reject(f"{name} = {raw!r}")
            return
        measurement: dict[str, Any] = {"name": measurement_name(config.prefix, name), "value": float(raw),
                                       "time": timestamp}
        if tags:
            measurement["tags"] = tags
        out.measurements.append(measurement)

    cols = batch.columns
    row_tags: dict[int, dict[str, str]] = {}
    for row, name, _, raw, own in cells_in_set_order(cols):
        tags = row_tags.get(row)
        if tags is None:
            tags = row_tags[row] = _tags(cols.labels[row])
        add(name, raw, tags if own is None else {**tags, **_tags(own)})
    return out
