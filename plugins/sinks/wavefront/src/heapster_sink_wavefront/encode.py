"""A batch as Wavefront data-format lines, as Heapster's ``metrics/sinks/wavefront/wavefront.go`` wrote them::

    <prefix><type>.<metric with / as .> <value> <unix seconds> source="<source>" <tag>="<value>" ...

* source: the cluster name for cluster metrics, ``<namespace>-ns`` for namespace metrics, else the
  ``hostname`` label;
* tags: ``cluster=<clusterName>`` and every label except ``namespace_id``, ``host_id``, ``pod_id``,
  ``hostname`` and ``labels``, empty values left out; with ``includeLabels`` each ``k:v`` of the
  ``labels`` label as ``label.<k>="v"``; a labeled metric adds its own labels (``resource_id``);
* metric sets of system.slice sub-containers are skipped, pod containers too without ``includeContainers``.

Where Heapster's line would be refused by the proxy, it is repaired: characters a metric name or tag
key cannot hold (anything but letters, digits, ``-``, ``_``, ``.``) become ``-`` (e.g. the ``/`` of
``label.kubernetes.io/hostname``), ``"`` in tag values is escaped, line breaks become spaces, and an
empty source becomes the cluster name. NaN and infinite values cannot be sent and are counted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from heapster import keys
from heapster.columns import cells_in_set_order
from heapster.errors import Rejections
from heapster.model import DataBatch
from heapster_sink_wavefront.config import WavefrontConfig

EXCLUDED_TAGS = frozenset({"namespace_id", "host_id", "pod_id", "hostname"})
SYSTEM_SLICE = "system.slice/"
_INVALID_NAME = re.compile(r"[^A-Za-z0-9\-_.]")


@dataclass(slots=True)
class Encoded(Rejections):
    """The lines of one batch, and the values that could not be written."""

    lines: list[str] = field(default_factory=list)


def clean_name(text: str) -> str:
    """A metric name or tag key the proxy accepts."""
    return _INVALID_NAME.sub("-", text)


def quote(text: str) -> str:
    """A double-quoted tag value or source."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ").replace("\r", " ") + '"'


def format_value(value: int | float) -> str | None:
    """Go's ``%d`` / ``%f``; None for NaN and infinity."""
    if isinstance(value, float):
        return f"{value:f}" if math.isfinite(value) else None
    return str(value)


def set_tags(labels: Mapping[str, str], config: WavefrontConfig) -> dict[str, str]:
    """The tags of a metric set, Heapster's ``addLabelTags`` plus ``cluster``."""
    tags = {"cluster": config.cluster_name}
    for name in sorted(labels):
        value = labels[name]
        if name == "labels":
            if config.include_labels:
                for item in value.split(","):
                    key, sep, label_value = item.partition(":")
                    if sep:
                        tags[f"label.{key}"] = label_value
        else:
            tags[name] = value
    return tags


def tag_text(tags: Mapping[str, str]) -> Iterator[str]:
    for name, value in tags.items():
        if name not in EXCLUDED_TAGS and value:
            yield f"{clean_name(name)}={quote(value)} "


def encode_batch(batch: DataBatch, config: WavefrontConfig) -> Encoded:
    """Every value and labeled metric of the batch as proxy lines, metric sets in key order as Heapster
    (values sorted by name, then the labeled metrics), read from the batch's columns."""
    out = Encoded()
    timestamp = int(batch.timestamp.timestamp())
    cols = batch.columns
    values: dict[int, list[tuple[str, int | float]]] = {}
    labeled: dict[int, list[tuple[str, int | float, dict[str, str]]]] = {}
    for row, name, _, raw, own in cells_in_set_order(cols):
        if own is None:
            values.setdefault(row, []).append((name, raw))
        else:
            labeled.setdefault(row, []).append((name, raw, own))
    for row in sorted(values.keys() | labeled.keys(), key=cols.keys.__getitem__):
        tags = set_tags(cols.labels[row], config)
        kind = tags.get("type", "")
        if SYSTEM_SLICE in tags.get("container_name", ""):
            continue
        if not config.include_containers and kind == keys.POD_CONTAINER:
            continue
        if kind == keys.CLUSTER:
            source = config.cluster_name
        elif kind == keys.NAMESPACE:
            source = tags.get("namespace_name", "") + "-ns"
        else:
            source = tags.get("hostname", "")
        common = "".join(tag_text(tags))

        for name, raw in sorted(values.get(row, ())):
            _add(out, config, f"{kind}.{name}", raw, timestamp, source, common)
        for name, raw, labels in labeled.get(row, ()):
            own_text = "".join(f"{clean_name(k)}={quote(v)} " for k, v in labels.items() if v)
            _add(out, config, f"{kind}.{name}", raw, timestamp, tags.get("hostname", ""), common + own_text)
    return out


def _add(out: Encoded, config: WavefrontConfig, name: str, raw: int | float, timestamp: int, source: str,
         tags: str) -> None:
    metric = clean_name(config.prefix + name.replace("/", "."))
    value = format_value(raw)
    if value is None:
        out.reject(f"{metric} = {raw!r}")
        return
    out.lines.append(f"{metric} {value} {timestamp} source={quote(source or config.cluster_name)} {tags}\n")
