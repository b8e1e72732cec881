"""JSON as Go's ``encoding/json`` writes it, for sinks whose payloads must match Heapster's byte for byte.

Go differs from Python's ``json`` in three ways that show in sink payloads: ``<``, ``>``, ``&``,
U+2028 and U+2029 are escaped; floats use the shortest form without a trailing ``.0`` and switch
to exponent notation only below 1e-6 or from 1e21 on; map keys are sorted (struct fields keep
their declaration order). Kubernetes events keep the field order of the ``v1.Event`` struct.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from heapster.model import Event
from heapster.timefmt import parse_rfc3339

_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def go_escape(text: str) -> str:
    """JSON text with the characters Go's encoder HTML-escapes replaced (they only occur in strings)."""
    for char, escaped in _ESCAPES:
        if char in text:
            text = text.replace(char, escaped)
    return text


def go_string(value: str) -> str:
    """A JSON string literal as Go writes it."""
    return go_escape(json.dumps(value, ensure_ascii=False))


def go_float(value: float) -> str:
    """A float64 as Go's ``json.Marshal`` writes it (``3``, ``0.5``, ``1e-7``, ``1e+21``).

    ``ValueError`` for NaN and infinities, which Go refuses to encode.
    """
    if not math.isfinite(value):
        msg = f"json: unsupported value: {value!r}"
        raise ValueError(msg)
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = repr(value)
        mantissa, _, exponent = text.partition("e")
        if exponent.startswith("-0"):
            exponent = "-" + exponent[2:]
        return f"{mantissa.removesuffix('.0')}e{exponent}"
    if value == int(value) and magnitude < 1e16:
        return str(int(value)) if value or math.copysign(1, value) > 0 else "-0"
    return format(Decimal(repr(value)).normalize(), "f")


def go_number(value: int | float) -> str:
    """An int64 or float64 as Go writes it."""
    return go_float(value) if isinstance(value, float) else str(int(value))


def go_json(value: Any) -> str:
    """Compact JSON as Go's ``json.Marshal`` writes maps (keys sorted), strings and numbers.

    Dicts are treated as Go maps (sorted keys); build struct-shaped output by hand where field
    order matters.
    """
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return go_number(value)
    if isinstance(value, str):
        return go_string(value)
    if isinstance(value, Mapping):
        if all(type(v) is str for v in value.values()):  # labels: one C-level dump is Go's output
            text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            return go_escape(text)
        items = ",".join(f"{go_string(str(k))}:{go_json(value[k])}" for k in sorted(value))
        return "{" + items + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    msg = f"json: unsupported type: {type(value).__name__}"
    raise TypeError(msg)


# --- Kubernetes events ------------------------------------------------------------------------------

_EVENT_ORDER = (
    "metadata", "involvedObject", "reason", "message", "source", "firstTimestamp",
    "lastTimestamp", "count", "type", "eventTime", "series", "action", "related", "reportingComponent",
    "reportingInstance",
)
_NESTED_ORDER = {
    "metadata": ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
                 "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
                 "annotations", "ownerReferences", "finalizers"),
    "involvedObject": ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"),
    "source": ("component", "host"),
}
_NOT_IN_HEAPSTER = frozenset({"kind", "apiVersion"})
"""Heapster's informer-decoded Events carry no TypeMeta, so its JSON has neither."""


def _go_order(obj: Mapping[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    known = [k for k in order if k in obj]
    return {**{k: obj[k] for k in known}, **{k: v for k, v in obj.items() if k not in order}}


def event_json(event: Event) -> str:
    """The event as Go's ``json.MarshalIndent(event, "", " ")`` renders it: struct field order,
    one-space indent, HTML characters escaped, no ``kind``/``apiVersion`` nor ``metadata.managedFields``
    (as Heapster's)."""
    ordered = _go_order({k: v for k, v in event.items() if k not in _NOT_IN_HEAPSTER}, _EVENT_ORDER)
    for key, order in _NESTED_ORDER.items():
        if isinstance(ordered.get(key), Mapping):
            ordered[key] = _go_order(ordered[key], order)
    if isinstance(ordered.get("metadata"), Mapping) and "managedFields" in ordered["metadata"]:
        # Server bookkeeping that Heapster's ObjectMeta (Kubernetes 1.10) did not have, so it never stored it.
        ordered["metadata"] = {k: v for k, v in ordered["metadata"].items() if k != "managedFields"}
    return go_escape(json.dumps(ordered, indent=1, ensure_ascii=False))


def event_time(event: Event, fallback: datetime) -> datetime:
    """``lastTimestamp``; for events without one (events.k8s.io style) ``eventTime``,
    ``firstTimestamp``, the creation time, then ``fallback``."""
    metadata = event.get("metadata") or {}
    for raw in (event.get("lastTimestamp"), event.get("eventTime"), event.get("firstTimestamp"),
                metadata.get("creationTimestamp")):
        if isinstance(raw, str) and raw:
            try:
                return parse_rfc3339(raw)
            except ValueError:
                continue
    return fallback


def event_timestamp(event: Event, field: str) -> datetime | None:
    """One of the event's own timestamps (``lastTimestamp``, ``firstTimestamp``), None when unset."""
    raw = event.get(field)
    if isinstance(raw, str) and raw:
        try:
            return parse_rfc3339(raw)
        except ValueError:
            return None
    return None
