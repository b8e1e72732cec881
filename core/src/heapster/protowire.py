"""Protobuf wire-format pieces for sinks that frame their messages by hand.

Building a protobuf message object per point costs more than the export itself at scale, so the
OTLP and Prometheus remote-write encoders serialize the repeated parts themselves; these are the
bytes they share: varints, lengths and length-delimited fields.
"""

from __future__ import annotations


def varint(number: int) -> bytes:
    """A non-negative integer as a protobuf varint."""
    out = bytearray()
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


_SMALL = 1 << 14
_SMALL_VARINTS = [varint(n) for n in range(_SMALL)]


def length(number: int) -> bytes:
    """The varint of a length (those below 16384, the usual ones, from a table)."""
    return _SMALL_VARINTS[number] if number < _SMALL else varint(number)


def field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag, the payload's length, the payload."""
    size = len(payload)
    return tag + (_SMALL_VARINTS[size] if size < _SMALL else varint(size)) + payload
