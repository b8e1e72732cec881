"""Go-style duration strings (``60s``, ``1m30s``, ``500ms``) and Go's ``strconv.ParseBool``."""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string; raises ``ValueError`` naming the text if it is not one."""
    s = text.strip()
    sign = 1.0
    if s[:1] in "+-" and s:
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        msg = f"invalid duration {text!r}"
        raise ValueError(msg)
    total, pos = 0.0, 0
    for match in _PART.finditer(s):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(s):
        msg = f"invalid duration {text!r} (use e.g. 60s, 1m30s, 500ms)"
        raise ValueError(msg)
    return sign * total


def format_duration(seconds: float) -> str:
    """Render seconds as Go does for whole units, e.g. ``1m0s``, ``30s``, ``1h0m0s``."""
    if seconds < 1 and seconds > 0:
        return f"{seconds * 1000:g}ms"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def parse_bool(text: str) -> bool:
    """Go's ``strconv.ParseBool``: 1,t,T,TRUE,true,True / 0,f,F,FALSE,false,False."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    msg = f"invalid boolean {text!r} (use true or false)"
    raise ValueError(msg)


_SIZE = re.compile(r"\s*(\d+)\s*([kKmMgG]i?)?\s*")
_SIZE_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "ki": 1024, "mi": 1024**2, "gi": 1024**3}


def parse_size(text: str) -> int:
    """A size in bytes: ``1048576``, ``512Mi``, ``1Gi``, ``100M``; ``ValueError`` otherwise."""
    match = _SIZE.fullmatch(text)
    if match is None:
        msg = f"invalid size {text!r} (use bytes, or a number with Ki, Mi, Gi, K, M, G)"
        raise ValueError(msg)
    return int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").lower()]
