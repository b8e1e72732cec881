"""A batch as carbon plaintext lines, ``<prefix>.<path> <value> <unix seconds>``, in Heapster's hierarchy.

Paths (Heapster's ``metrics/sinks/graphite/driver.go``), with ``/`` in metric names turned into ``.``
and ``.``/``/`` in host, pod and container names escaped to ``_`` (namespace names are kept as is)::

    cluster.<metric>
    namespaces.<ns>.<metric>
    nodes.<host>.<metric>
    nodes.<host>.sys-containers.<container>.<metric>
    nodes.<host>.pods.<ns>.<pod>.<metric>
    nodes.<host>.pods.<ns>.<pod>.containers.<container>.<metric>

A labeled metric with a ``resource_id`` gets it (escaped) after the metric's first part, e.g.
``filesystem.<resource>.usage``. (Heapster looked for a ``resourceId`` label, which no source sets, so
its per-filesystem values overwrote each other in one series.)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from heapster import keys
from heapster.columns import cells_in_set_order
from heapster.errors import Rejections
from heapster.model import DataBatch

_ESCAPE = str.maketrans({".": "_", "/": "_"})
_INVALID_PATH = re.compile(r"\s")
"""Carbon splits a line on whitespace: a path holding any is refused by the server."""


@dataclass(slots=True)
class Encoded(Rejections):
    """The lines of one batch, and how many values could not be written (bad path or value)."""

    lines: list[str] = field(default_factory=list)


def escape(part: str) -> str:
    """Heapster's ``escapeField``: ``.`` and ``/`` become ``_``."""
    return part.translate(_ESCAPE)


def metric_path(name: str, labels: Mapping[str, str]) -> str:
    """The path of one value below the prefix, as Heapster built it."""
    resource = labels.get("resource_id")
    if resource is not None:
        section, _, rest = name.partition("/")
        path = ".".join(p for p in (section, escape(resource), rest) if p)
    else:
        path = name
    path = path.replace("/", ".")
    kind = labels.get("type")
    host = escape(labels.get("hostname", ""))
    if kind == keys.POD_CONTAINER:
        return (f"nodes.{host}.pods.{labels.get('namespace_name', '')}.{escape(labels.get('pod_name', ''))}"
                f".containers.{escape(labels.get('container_name', ''))}.{path}")
    if kind == keys.SYS_CONTAINER:
        return f"nodes.{host}.sys-containers.{escape(labels.get('container_name', ''))}.{path}"
    if kind == keys.POD:
        return f"nodes.{host}.pods.{labels.get('namespace_name', '')}.{escape(labels.get('pod_name', ''))}.{path}"
    if kind == keys.NAMESPACE:
        return f"namespaces.{labels.get('namespace_name', '')}.{path}"
    if kind == keys.NODE:
        return f"nodes.{host}.{path}"
    if kind == keys.CLUSTER:
        return f"cluster.{path}"
    return path


def format_value(value: int | float) -> str | None:
    """Go's ``%d`` for integers, ``%f`` for floats; None for NaN/infinity (carbon cannot store them)."""
    if isinstance(value, float):
        return f"{value:f}" if math.isfinite(value) else None
    return str(value)


def encode_batch(batch: DataBatch, prefix: str) -> Encoded:
    """Every metric value and labeled metric of the batch as carbon lines (one per value), read from the
    batch's columns in the order of the per-set view."""
    out = Encoded()
    timestamp = int(batch.timestamp.timestamp())

    def add(name: str, labels: Mapping[str, str], raw: int | float) -> None:
        path = f"{prefix}.{metric_path(name, labels)}"
        value = format_value(raw)
        if value is None or _INVALID_PATH.search(path):
            out.reject(f"{path!r} = {raw!r}")
            return
        out.lines.append(f"{path} {value} {timestamp}\n")

    cols = batch.columns
    set_labels = cols.labels
    for row, name, _, value, own in cells_in_set_order(cols):
        add(name, set_labels[row] if own is None else {**set_labels[row], **own}, value)
    return out
