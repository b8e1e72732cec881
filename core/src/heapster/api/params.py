"""Query parameters of the Model API: ``start``, ``end`` (RFC 3339) and ``labels`` (``k:v,k:v``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from heapster.gotext import go_quote
from heapster.timefmt import parse_go_rfc3339


class BadRequest(ValueError):
    """A malformed query parameter; the message is the 400 body."""


def parse_time(text: str | None, default: datetime | None, *, round_up: bool = False) -> datetime | None:
    """An RFC 3339 timestamp as Go's ``time.Parse(time.RFC3339, ...)`` accepts it, or ``default``.

    A datetime holds microseconds, Go nanoseconds: with ``round_up`` (a range's inclusive start), a time between
    two microseconds is the later one, so a batch just before it stays out of the range as it did in Heapster.
    """
    if not text:
        return default
    try:
        parsed, nanos = parse_go_rfc3339(text)
    except ValueError as exc:
        msg = f"timestamp argument cannot be parsed: {exc}"
        raise BadRequest(msg) from exc
    if round_up and nanos:
        parsed += timedelta(microseconds=1)
    return parsed


def parse_labels(text: str | None) -> dict[str, str] | None:
    """``k:v,k:v`` (split on the first ``:``) into a dict; None when absent."""
    if not text:
        return None
    labels: dict[str, str] = {}
    for pair in text.split(","):
        key, sep, value = pair.partition(":")
        if not sep or not key or not value:
            msg = f"invalid label pair {go_quote(pair)}"
            raise BadRequest(msg)
        labels[key] = value
    return labels
