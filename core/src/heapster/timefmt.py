"""Timestamp helpers: RFC 3339 as Go's JSON renders it, Go's ``time.Time.String``, and the one exact
conversion between datetimes and integer micro- or nanoseconds since the epoch that every module uses."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

ZERO_TIME = "0001-01-01T00:00:00Z"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GO_ZERO_UNIX_NANO = -6795364578871345152
"""Go's ``time.Time{}.UnixNano()`` (the zero time, overflowed)."""
_GO_RFC3339 = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})")


def epoch_micros(ts: datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding); a naive datetime counts as UTC."""
    delta = (ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def epoch_nanos(ts: datetime) -> int:
    """Nanoseconds since the epoch, exactly (datetimes hold microseconds); a naive datetime counts as UTC."""
    return epoch_micros(ts) * 1000


def from_epoch_micros(micros: int) -> datetime:
    """The aware UTC datetime ``micros`` microseconds after the epoch (the inverse of :func:`epoch_micros`)."""
    return EPOCH + timedelta(microseconds=micros)


def from_epoch_nanos(nanos: int) -> datetime:
    """The aware UTC datetime of ``nanos`` nanoseconds since the epoch (rounded down to the microsecond)."""
    return EPOCH + timedelta(microseconds=nanos // 1000)


def utc_from_epoch(seconds: float) -> datetime:
    """An aware UTC datetime from epoch seconds."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def rfc3339(ts: datetime | None) -> str:
    """Go's ``time.Time`` JSON: RFC 3339, fractional seconds only when non-zero, ``Z`` for UTC."""
    if ts is None:
        return ZERO_TIME
    ts = ts.astimezone(UTC)
    text = ts.strftime("%Y-%m-%dT%H:%M:%S")
    if ts.microsecond:
        text += f".{ts.microsecond:06d}".rstrip("0")
    return text + "Z"


def rfc3339_seconds(ts: datetime) -> str:
    """Kubernetes ``metav1.Time`` JSON: RFC 3339 in whole seconds (fraction dropped), ``Z`` for UTC."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def go_string(ts: datetime | None) -> str:
    """Go's ``time.Time.String()`` for a UTC time, e.g. ``2018-03-02 10:00:00 +0000 UTC``."""
    if ts is None:
        return "0001-01-01 00:00:00 +0000 UTC"
    ts = ts.astimezone(UTC)
    text = ts.strftime("%Y-%m-%d %H:%M:%S")
    if ts.microsecond:
        text += f".{ts.microsecond:06d}".rstrip("0")
    return text + " +0000 UTC"


def unix_nano(ts: datetime | None) -> int:
    """Nanoseconds since the epoch (Go's ``UnixNano``; the zero time maps to Go's value)."""
    if ts is None:
        return GO_ZERO_UNIX_NANO
    return epoch_nanos(ts)


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with up to nanosecond precision into an aware datetime (``ValueError`` if
    it is none); fractions beyond microseconds are cut off."""
    try:  # the common forms (``Z`` or an offset, up to 6 fraction digits) at C speed
        parsed = datetime.fromisoformat(text)
    except ValueError:
        pass
    else:
        if parsed.tzinfo is not None:
            return parsed
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, frac = text.partition(".")
    if dot:
        digits = len(frac) - len(frac.lstrip("0123456789"))
        text = f"{head}.{frac[:digits][:6].ljust(6, '0')}{frac[digits:]}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def parse_go_rfc3339(text: str) -> tuple[datetime, int]:
    """``text`` as Go's ``time.Parse(time.RFC3339, text)`` reads it (``ValueError`` where Go fails), in Go 1.8,
    which Heapster v1.5-v1.6 were built with.

    Go is stricter than RFC 3339 on case (only upper-case ``T`` and ``Z``) and laxer on the rest (a one-digit
    hour, any number of fraction digits, nanoseconds kept; a comma before the fraction only from Go 1.17).
    Returns the datetime, cut to the microsecond, and the nanoseconds (0-999) past that microsecond.
    """
    found = _GO_RFC3339.fullmatch(text)
    if not found:
        msg = f"parsing time {json.dumps(text)} as \"2006-01-02T15:04:05Z07:00\": not RFC 3339"
        raise ValueError(msg)
    date, hour, minute, second, fraction, zone = found.groups()
    digits = (fraction or "")[:9].ljust(9, "0")
    offset = "+00:00" if zone == "Z" else zone
    return datetime.fromisoformat(f"{date}T{hour:0>2}:{minute}:{second}.{digits[:6]}{offset}"), int(digits[6:])
