"""Kubernetes label selectors (``a=b,c!=d,e in (f,g),!h,i>1``) for ``?labelSelector=``, and field selectors
(``metadata.name=x,metadata.namespace!=y``) for ``?fieldSelector=``, parsed and checked as the API server does.

A small public module with no dependencies beyond the standard library: heapster's API and
``kubectl top`` use it, and so does the cluster simulator's API server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

Requirement = Callable[[Mapping[str, str]], bool]

_KEY = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?(/|$))?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SET = re.compile(r"^(?P<key>\S+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_EQUALITY = re.compile(r"^(?P<key>[^=!\s]+)\s*(?P<op>==|!=|=)\s*(?P<value>\S*)$")
_ORDER = re.compile(r"^(?P<key>[^<>=!\s]+)\s*(?P<op>[<>])\s*(?P<value>\S*)$")
_INT64 = re.compile(r"^[+-]?[0-9]+$")
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


class Selector:
    """A parsed selector; ``matches(labels)`` is true when every requirement holds."""

    def __init__(self, requirements: list[Requirement]) -> None:
        self.requirements = requirements

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(requirement(labels) for requirement in self.requirements)


def _split(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts]


def _check_key(key: str) -> str:
    if not _KEY.match(key):
        msg = f"invalid label key {key!r}"
        raise ValueError(msg)
    return key


def _check_value(value: str) -> str:
    if len(value) > 63 or not _VALUE.match(value):
        msg = f"invalid label value {value!r}"
        raise ValueError(msg)
    return value


def _go_int64(text: str | None) -> int | None:
    """``strconv.ParseInt(text, 10, 64)``: the integer, or None where Go fails."""
    if text is None or not _INT64.match(text):
        return None
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else None


def _order(key: str, greater: bool, text: str) -> Requirement:
    """``key>N`` / ``key<N``, as the API server and metrics-server take them (apimachinery's Gt and Lt): N an
    integer and a label value; an object matches when it has the label and its value is an integer beyond N."""
    bound = _go_int64(_check_value(text))
    if bound is None:
        msg = f"for 'Gt', 'Lt' operators, the value must be an integer, got {text!r}"
        raise ValueError(msg)

    def matches(labels: Mapping[str, str]) -> bool:
        value = _go_int64(labels.get(key))
        return value is not None and (value > bound if greater else value < bound)

    return matches


def _requirement(part: str) -> Requirement:
    if part.startswith("!"):
        key = _check_key(part[1:].strip())
        return lambda labels: key not in labels
    found = _SET.match(part)
    if found:
        key = _check_key(found["key"])
        values = frozenset(_check_value(v.strip()) for v in found["values"].split(","))
        if found["op"] == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    found = _EQUALITY.match(part)
    if found:
        key = _check_key(found["key"])
        value = _check_value(found["value"])
        if found["op"] == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    found = _ORDER.match(part)
    if found:
        return _order(_check_key(found["key"]), found["op"] == ">", found["value"])
    key = _check_key(part)
    return lambda labels: key in labels


def parse_selector(text: str | None) -> Selector:
    """Parse a label selector; ``ValueError`` with the reason if it is malformed."""
    if not text or not text.strip():
        return Selector([])
    parts = _split(text)
    if any(not part for part in parts):
        msg = "empty requirement"
        raise ValueError(msg)
    return Selector([_requirement(part) for part in parts])


_FIELD_TERM = re.compile(r"^(?P<field>[^=!\s]+)\s*(?P<op>==|!=|=)\s*(?P<value>[^,\s]*)$")


class FieldSelector:
    """A parsed field selector; ``matches(fields)`` is true when every term holds. A field the object does not
    have reads as the empty string, as the API server's ``fields.Set`` does."""

    def __init__(self, terms: list[tuple[str, bool, str]]) -> None:
        self.terms = terms

    @property
    def empty(self) -> bool:
        return not self.terms

    @property
    def fields(self) -> set[str]:
        """The field paths the selector uses."""
        return {field for field, _, _ in self.terms}

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all((fields.get(field, "") == value) == equal for field, equal, value in self.terms)


def parse_field_selector(text: str | None) -> FieldSelector:
    """Parse ``field=value``/``field==value``/``field!=value`` terms joined by commas; ``ValueError`` naming a
    malformed term."""
    terms = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        found = _FIELD_TERM.match(part.strip())
        if found is None:
            msg = f"invalid field selector term {part.strip()!r}: expected FIELD=VALUE, FIELD==VALUE or FIELD!=VALUE"
            raise ValueError(msg)
        terms.append((found["field"], found["op"] != "!=", found["value"]))
    return FieldSelector(terms)
