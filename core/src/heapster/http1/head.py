"""The message-head rules the HTTP/1.1 client and server share: the size limit and the header-line parser."""

from __future__ import annotations

HEAD_LIMIT = 64 * 1024
"""Most bytes of a message's start line plus headers."""


class ProtocolError(Exception):
    """The peer sent something that is not HTTP/1.1 as this package reads it."""


def parse_header_lines(lines: list[bytes]) -> dict[bytes, bytes]:
    """Header lines as ``{lower-cased name: value}``; repeated names joined with commas (RFC 9110 5.3)."""
    headers: dict[bytes, bytes] = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            msg = f"bad header line {line[:100]!r}"
            raise ProtocolError(msg)
        key = name.lower()
        value = value.strip()
        headers[key] = headers[key] + b"," + value if key in headers else value
    return headers
