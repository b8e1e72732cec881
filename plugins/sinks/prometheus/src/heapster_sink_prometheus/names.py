"""Heapster metric and label names translated to Prometheus ones (shared with remote write).

``cpu/usage_rate`` -> ``heapster_cpu_usage_rate_millicores``, ``network/rx`` (cumulative, bytes) ->
family ``heapster_network_rx_bytes`` with samples ``heapster_network_rx_bytes_total``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from heapster.catalogue import describe
from heapster.errors import UsageError
from heapster.model import MetricType, Unit

DEFAULT_PREFIX = "heapster_"

UNIT_NAMES: dict[Unit, str] = {
    Unit.BYTES: "bytes",
    Unit.MILLISECONDS: "milliseconds",
    Unit.NANOSECONDS: "nanoseconds",
    Unit.MILLICORES: "millicores",
}
"""Unit suffixes of metric names (Prometheus spells units out)."""

UNITLESS = frozenset({"filesystem/inodes", "filesystem/inodes_free"})
"""Metrics Heapster describes in bytes although they count inodes."""

MILLICORES = frozenset({"cpu/usage_rate", "cpu/request", "cpu/limit", "cpu/node_capacity", "cpu/node_allocatable"})
"""Metrics in millicores although Heapster's schema (and so our metric-export-schema) gives them no unit."""

_BAD_METRIC_CHARS = re.compile(r"[^a-zA-Z0-9_:]")
_BAD_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


@dataclass(frozen=True, slots=True)
class Family:
    """A Prometheus metric family made from one Heapster metric name and type."""

    name: str
    """Family name (OpenMetrics ``# TYPE`` line), with the unit, without ``_total``."""
    sample: str
    """Name of its samples: ``name`` plus ``_total`` for counters."""
    kind: str
    """``counter`` or ``gauge``."""
    unit: str
    """Unit suffix of ``name`` (``bytes``, ...) or ""."""
    help: str
    heapster_name: str


def sanitize_metric_name(text: str) -> str:
    """``text`` with every character Prometheus does not allow in a metric name replaced by ``_``."""
    name = _BAD_METRIC_CHARS.sub("_", text)
    return f"_{name}" if name[:1].isdigit() else name


def checked_prefix(prefix: str, what: str) -> str:
    """``prefix`` when it is a valid start of metric names (or empty); :class:`UsageError` naming ``what``'s option."""
    if prefix and sanitize_metric_name(prefix) != prefix:
        msg = f"bad value {prefix!r} for option 'prefix' of {what}: use letters, digits, '_' and ':'"
        raise UsageError(msg)
    return prefix


@lru_cache(maxsize=4096)
def label_name(key: str) -> str:
    """A valid Prometheus label name for a Heapster label key (``__`` prefixes are reserved)."""
    name = _BAD_LABEL_CHARS.sub("_", key) or "_"
    if name[0].isdigit():
        name = f"_{name}"
    if name.startswith("__"):
        name = f"label{name}"
    return name


def escape_label_value(value: str) -> str:
    """A label value escaped for the text and OpenMetrics formats."""
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


@lru_cache(maxsize=4096)
def family(heapster_name: str, metric_type: MetricType, prefix: str = DEFAULT_PREFIX) -> Family:
    """The Prometheus family of a Heapster metric; cumulative metrics are counters, the rest gauges."""
    descriptor = describe(heapster_name)
    if heapster_name in MILLICORES:
        unit = UNIT_NAMES[Unit.MILLICORES]
    else:
        unit = "" if descriptor is None or heapster_name in UNITLESS else UNIT_NAMES.get(descriptor.units, "")
    base = sanitize_metric_name(prefix + heapster_name.replace("/", "_"))
    counter = metric_type is MetricType.CUMULATIVE
    if counter and base.endswith("_total"):
        base = base[: -len("_total")]
    if unit and not base.endswith(f"_{unit}"):
        base = f"{base}_{unit}"
    help_text = descriptor.description if descriptor is not None else f"Heapster metric {heapster_name}"
    return Family(name=base, sample=f"{base}_total" if counter else base, kind="counter" if counter else "gauge",
                  unit=unit, help=help_text, heapster_name=heapster_name)


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it (``NaN``, ``+Inf``, ``-Inf``, shortest repr)."""
    if type(value) is int:
        return str(value)
    if math.isnan(value):
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))
