"""Timestamp helpers: RFC 3339 as Go's JSON renders it, Go's ``time.Time.String``, and the one exact
conversion between datetimes and integer micro- or nanoseconds since the epoch that every module uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

ZERO_TIME = "0001-01-01T00:00:00Z"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GO_ZERO_UNIX_NANO = -6795364578871345152
"""Go's ``time.Time{}.UnixNano()`` (the zero time, overflowed)."""
GO_RFC3339 = "2006-01-02T15:04:05Z07:00"
"""Go's ``time.RFC3339`` layout, as its parse errors quote it."""
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


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


class _GoParseError(ValueError):
    """A ``time.ParseError`` as Go 1.8 words it (its ``quote`` adds quotes and escapes nothing)."""

    @classmethod
    def cannot(cls, text: str, rest: str, element: str) -> _GoParseError:
        return cls(f'parsing time "{text}" as "{GO_RFC3339}": cannot parse "{rest}" as "{element}"')

    @classmethod
    def saying(cls, text: str, message: str) -> _GoParseError:
        return cls(f'parsing time "{text}"{message}')


def _digits(text: str, start: int, count: int) -> bool:
    return len(text) >= start + count and all("0" <= c <= "9" for c in text[start:start + count])


def _go_atoi(text: str) -> int | None:
    """Go's ``time.atoi``: an optional sign, then digits only (none is 0); None where Go fails."""
    sign, body = (-1 if text[:1] == "-" else 1), text[1:] if text[:1] in "+-" else text
    if not all("0" <= c <= "9" for c in body):
        return None
    return sign * int(body or "0")


def parse_go_rfc3339(text: str) -> tuple[datetime, int]:
    """``text`` as Go 1.8's ``time.Parse(time.RFC3339, text)`` reads it (Heapster v1.5-v1.6 were built with
    it), with Go's error message where Go fails (a ``ValueError``).

    Go is stricter than RFC 3339 on case (only upper-case ``T`` and ``Z``) and laxer on the rest (a one-digit
    hour, any number of fraction digits, offsets up to +-99:99; a comma before the fraction only from Go
    1.17). Returns the UTC datetime, cut to the microsecond, and the nanoseconds (0-999) past it.
    """
    rest = text
    if len(rest) < 4 or not _digits(rest, 0, 1):
        raise _GoParseError.cannot(text, rest, "2006")
    year, rest = _go_atoi(rest[:4]), rest[4:]
    if year is None:
        raise _GoParseError.cannot(text, rest, "2006")
    fields: list[int] = []
    for prefix, element, low, high, name in (("-", "01", 1, 12, "month"), ("-", "02", 0, 99, ""),
                                             ("T", "15", 0, 23, "hour"), (":", "04", 0, 59, "minute"),
                                             (":", "05", 0, 59, "second")):
        if not rest.startswith(prefix):
            raise _GoParseError.cannot(text, rest, prefix)
        rest = rest[1:]
        width = 2 if _digits(rest, 0, 2) else 1 if element == "15" and _digits(rest, 0, 1) else 0
        value = int(rest[:width]) if width else 0
        if name and not low <= value <= high:  # Go checks the range first: a month "xx" is 0, out of range
            raise _GoParseError.saying(text, f": {name} out of range")
        if not width:
            raise _GoParseError.cannot(text, rest, element)
        fields.append(value)
        rest = rest[width:]
    month, day, hour, minute, second = fields
    nanos = 0
    if len(rest) >= 2 and rest[0] == "." and _digits(rest, 1, 1):
        count = 1 + len(rest[1:]) - len(rest[1:].lstrip("0123456789"))
        nanos = int(rest[1:min(count, 10)].ljust(9, "0"))
        rest = rest[count:]
    offset = 0
    if rest.startswith("Z"):
        rest = rest[1:]
    else:
        if len(rest) < 6 or rest[3] != ":":
            raise _GoParseError.cannot(text, rest, "Z07:00")
        sign, hours, minutes, rest = rest[0], _go_atoi(rest[1:3]), _go_atoi(rest[4:6]), rest[6:]
        if hours is None or minutes is None or sign not in "+-":
            raise _GoParseError.cannot(text, rest, "Z07:00")
        offset = (hours * 60 + minutes) * 60 * (-1 if sign == "-" else 1)
    if rest:
        raise _GoParseError.saying(text, f": extra text: {rest}")
    leap = month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not 1 <= day <= _DAYS[month - 1] + leap:
        raise _GoParseError.saying(text, ": day out of range")
    try:
        parsed = datetime(max(year, 1), month, day, hour, minute, second, nanos // 1000, tzinfo=UTC)
        parsed -= timedelta(seconds=offset)
    except OverflowError:  # year 0 (Go has it) or an offset past the year 1 or 9999: the ends of the range
        parsed = datetime.min.replace(tzinfo=UTC) if year < 5000 else datetime.max.replace(tzinfo=UTC)
    return parsed, nanos % 1000
