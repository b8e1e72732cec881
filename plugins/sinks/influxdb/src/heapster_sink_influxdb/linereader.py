"""A strict line-protocol reader (InfluxDB's grammar), used by the InfluxDB 2/3 test double.

``parse_line`` returns ``(measurement, tags, fields, timestamp)`` or raises ``ValueError`` naming
what is wrong, as InfluxDB refuses the line.
"""

from __future__ import annotations

import re

FieldValue = float | int | str | bool
_INT = re.compile(r"^-?\d+i$")
_UINT = re.compile(r"^\d+u$")
_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_BOOLS = {"t": True, "T": True, "true": True, "True": True, "TRUE": True,
          "f": False, "F": False, "false": False, "False": False, "FALSE": False}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _split(text: str, separators: str, start: int, escapable: str = ',= \\"') -> tuple[str, int, str]:
    """Unescaped text from ``start`` up to the first unescaped separator: ``(text, index, separator)``.

    A backslash escapes the characters in ``escapable`` (elsewhere it stands for itself), as InfluxDB reads
    keys and tag values (the default) or string field values (``"`` and the backslash only).
    """
    out: list[str] = []
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in escapable:
            out.append(text[i + 1])
            i += 2
            continue
        if ch in separators:
            return "".join(out), i, ch
        out.append(ch)
        i += 1
    return "".join(out), i, ""


def _field_value(raw: str) -> FieldValue:
    if _INT.match(raw):
        value = int(raw[:-1])
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"integer value out of range: {raw}")
        return value
    if _UINT.match(raw):
        return int(raw[:-1])
    if raw in _BOOLS:
        return _BOOLS[raw]
    if _FLOAT.match(raw):
        return float(raw)
    raise ValueError(f"invalid field value {raw!r}")


def _string_value(line: str, start: int) -> tuple[str, int]:
    """The string field value whose opening quote is at ``start``, and the index after its closing quote."""
    value, end, quote = _split(line, '"', start + 1, escapable='"\\')
    if not quote:
        raise ValueError("unterminated string field value")
    return value, end + 1


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, FieldValue], int | None]:
    """One line of line protocol, strictly; ``ValueError`` on anything InfluxDB refuses."""
    measurement, i, sep = _split(line, ", ", 0)
    if not measurement:
        raise ValueError("missing measurement")
    tags: dict[str, str] = {}
    while sep == ",":
        key, i, sep = _split(line, "=", i + 1)
        if sep != "=" or not key:
            raise ValueError("missing tag key" if not key else f"missing tag value for {key!r}")
        tag_value, i, sep = _split(line, ", ", i + 1)
        if not tag_value:
            raise ValueError(f"missing tag value for {key!r}")
        tags[key] = tag_value
    if sep != " ":
        raise ValueError("missing fields")
    fields: dict[str, FieldValue] = {}
    i += 1
    while True:
        key, i, sep = _split(line, "=", i)
        if sep != "=" or not key:
            raise ValueError("missing field key" if not key else f"missing field value for {key!r}")
        i += 1
        if i < len(line) and line[i] == '"':
            value: FieldValue
            value, i = _string_value(line, i)
        else:
            raw_end = i
            while raw_end < len(line) and line[raw_end] not in ", ":
                raw_end += 1
            value, i = _field_value(line[i:raw_end]), raw_end
        if key in fields:
            raise ValueError(f"duplicate field {key!r}")
        fields[key] = value
        if i >= len(line):
            return measurement, tags, fields, None
        if line[i] == ",":
            i += 1
            continue
        stamp = line[i + 1:]
        if not re.fullmatch(r"-?\d+", stamp):
            raise ValueError(f"bad timestamp {stamp!r}")
        return measurement, tags, fields, int(stamp)


def split_lines(body: str) -> list[str]:
    """The lines of a request body: newlines inside a quoted string field value do not end a line
    (as InfluxDB's own scanner treats them)."""
    lines: list[str] = []
    start, i, n = 0, 0, len(body)
    spaces, quoted = 0, False
    while i < n:
        ch = body[i]
        if ch == "\\" and i + 1 < n:
            i += 2
            continue
        if quoted:
            if ch == '"':
                quoted = False
        elif ch == '"' and spaces == 1:
            quoted = True
        elif ch == " ":
            spaces += 1
        elif ch == "\n":
            lines.append(body[start:i])
            start, spaces = i + 1, 0
        i += 1
    lines.append(body[start:])
    return lines
