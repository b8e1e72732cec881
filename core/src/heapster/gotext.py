"""Go's text forms that Heapster's messages carry: ``strconv.Quote`` (``%q``) and ``strconv.ParseUint``."""

from __future__ import annotations

_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
            '"': '\\"', "\\": "\\\\"}
UINT64_LIMIT = 1 << 64


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote`` (and ``fmt``'s ``%q``): double quotes, printable characters kept (non-ASCII
    included), the rest escaped as ``\\n``, ``\\x01``, ``\\u00a0`` or ``\\U0001f000``."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def parse_uint64(text: str) -> int:
    """Go's ``strconv.ParseUint(text, 10, 64)``: ASCII digits only; ``ValueError`` with Go's message."""
    if not text or not all("0" <= c <= "9" for c in text):
        msg = f"strconv.ParseUint: parsing {go_quote(text)}: invalid syntax"
        raise ValueError(msg)
    value = int(text)
    if value >= UINT64_LIMIT:
        msg = f"strconv.ParseUint: parsing {go_quote(text)}: value out of range"
        raise ValueError(msg)
    return value
