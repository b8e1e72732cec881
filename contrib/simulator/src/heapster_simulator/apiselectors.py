"""Label and field selectors as the API server parses them (equality, inequality, set-based, existence)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")


class SelectorError(ValueError):
    """A selector that cannot be parsed (the API server answers 400 BadRequest)."""


def _split_requirements(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _label_requirement(text: str) -> Callable[[Mapping[str, str]], bool]:
    for op in ("!=", "==", "="):
        if op in text:
            key, _, value = text.partition(op)
            key, value = key.strip(), value.strip()
            if not key:
                raise SelectorError(f"invalid label selector requirement {text!r}")
            if op == "!=":
                return lambda labels: labels.get(key) != value
            return lambda labels: labels.get(key) == value
    match = _SET_RE.match(text)
    if not match:
        raise SelectorError(f"invalid label selector requirement {text!r}")
    negate, key, op, values_text = match.groups()
    if op is None:
        if negate:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    if negate:
        raise SelectorError(f"invalid label selector requirement {text!r}")
    values = {v.strip() for v in values_text.split(",") if v.strip()}
    if op == "in":
        return lambda labels: labels.get(key) in values
    return lambda labels: labels.get(key) not in values


def label_selector(text: str | None) -> Predicate | None:
    """A predicate on an API object for `labelSelector`, or None when the selector is empty."""
    if not text:
        return None
    requirements = [_label_requirement(part) for part in _split_requirements(text)]

    def matches(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(requirement(labels) for requirement in requirements)

    return matches


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
    """A predicate on an API object for `fieldSelector` (`path=value`, `path==value`, `path!=value`)."""
    if not text:
        return None
    checks: list[tuple[str, bool, str]] = []
    for part in _split_requirements(text):
        for op in ("!=", "==", "="):
            if op in part:
                path, _, value = part.partition(op)
                if not path.strip():
                    raise SelectorError(f"invalid field selector {part!r}")
                checks.append((path.strip(), op != "!=", value.strip()))
                break
        else:
            raise SelectorError(f"invalid field selector {part!r}: expected path=value")

    def matches(obj: dict[str, Any]) -> bool:
        return all((_field_value(obj, path) == value) == equal for path, equal, value in checks)

    return matches


def combine(*predicates: Predicate | None) -> Predicate | None:
    """One predicate that requires all the given ones (None when there are none)."""
    active = [p for p in predicates if p is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]
    return lambda obj: all(p(obj) for p in active)
