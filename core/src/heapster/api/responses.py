"""JSON and plain-text responses shaped as Heapster's go-restful server wrote them."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from heapster.timefmt import rfc3339


def _default(obj: Any) -> Any:
    if hasattr(obj, "isoformat"):
        return rfc3339(obj)
    msg = f"cannot encode {type(obj).__name__}"
    raise TypeError(msg)


def json_response(data: Any, *, pretty: bool = True, status: int = 200) -> web.Response:
    """``application/json``; pretty-printed unless ``pretty`` is False (as go-restful did per route)."""
    option = orjson.OPT_INDENT_2 if pretty else 0
    body = orjson.dumps(data, default=_default, option=option | orjson.OPT_NON_STR_KEYS)
    return web.Response(body=body, status=status, content_type="application/json")


def error_response(status: int, message: str) -> web.Response:
    """A plain-text error, as go-restful's ``WriteError``."""
    return web.Response(text=message, status=status, content_type="text/plain")
