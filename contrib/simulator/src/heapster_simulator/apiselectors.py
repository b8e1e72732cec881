"""``labelSelector`` and ``fieldSelector`` of list and watch requests as predicates on API objects.

The parsing is heapster's (:mod:`heapster.selectors`); this module only reads an object's labels and
field paths for it. A malformed selector raises ``ValueError`` (the API server answers 400 BadRequest).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from heapster.selectors import parse_field_selector, parse_selector

Predicate = Callable[[dict[str, Any]], bool]


def label_selector(text: str | None) -> Predicate | None:
    """A predicate on an API object for ``labelSelector``, or None when the selector is empty."""
    selector = parse_selector(text)
    if selector.empty:
        return None
    return lambda obj: selector.matches((obj.get("metadata") or {}).get("labels"))


def _field_value(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_selector(text: str | None) -> Predicate | None:
    """A predicate on an API object for ``fieldSelector`` (``path=value``, ``path==value``, ``path!=value``)."""
    selector = parse_field_selector(text)
    if not selector.terms:
        return None
    return lambda obj: selector.matches({path: _field_value(obj, path) for path in selector.fields})


def combine(*predicates: Predicate | None) -> Predicate | None:
    """One predicate that requires all the given ones (None when there are none)."""
    active = [p for p in predicates if p is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]
    return lambda obj: all(p(obj) for p in active)
