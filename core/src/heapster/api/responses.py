"""JSON and plain-text responses shaped as Heapster's go-restful server wrote them."""

from __future__ import annotations

import re
from typing import Any

import orjson
from aiohttp import web

from heapster.timefmt import rfc3339


def _default(obj: Any) -> Any:
    if hasattr(obj, "isoformat"):
        return rfc3339(obj)
    msg = f"cannot encode {type(obj).__name__}"
    raise TypeError(msg)


_INDENT = re.compile(rb"\n( *)")
_GO_ESCAPES = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"))


def _go_layout(match: re.Match[bytes]) -> bytes:
    return b"\n" + b" " * (1 + len(match.group(1)) // 2)


def go_json(data: Any, *, pretty: bool = True) -> bytes:
    """JSON bytes as go-restful wrote them: ``json.MarshalIndent(v, " ", " ")`` when pretty (every line
    after the first starts with one space, plus one per level), else ``json.Encoder`` (compact, with a
    final newline); HTML characters escaped as Go does."""
    option = orjson.OPT_INDENT_2 if pretty else 0
    body = orjson.dumps(data, default=_default, option=option | orjson.OPT_NON_STR_KEYS)
    body = _INDENT.sub(_go_layout, body) if pretty else body + b"\n"
    for char, escaped in _GO_ESCAPES:
        if char in body:
            body = body.replace(char, escaped)
    return body


def json_response(data: Any, *, pretty: bool = True, status: int = 200) -> web.Response:
    """``application/json``; pretty-printed unless ``pretty`` is False (as go-restful did per route)."""
    return web.Response(body=go_json(data, pretty=pretty), status=status, content_type="application/json")


def error_response(status: int, message: str) -> web.Response:
    """A plain-text error, as go-restful's ``WriteError``."""
    return web.Response(text=message, status=status, content_type="text/plain")
