"""JSON and plain-text responses shaped as Heapster's go-restful server wrote them."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from aiohttp import web

from heapster.timefmt import rfc3339


def _default(obj: Any) -> Any:
    if hasattr(obj, "isoformat"):
        return rfc3339(obj)
    msg = f"cannot encode {type(obj).__name__}"
    raise TypeError(msg)


_GO_ESCAPES = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"))
_NEWLINE, _SPACE = 10, 32


def go_indent(body: bytes) -> bytes:
    """orjson's two spaces per level -> Go's ``MarshalIndent(v, " ", " ")``: one space, plus one per level.

    Vectorized (a 17 MB pod list has a million lines; a regular expression callback per line took
    seconds): JSON strings hold no raw newline, so every newline starts a line of ``2 * depth`` spaces,
    of which ``depth - 1`` go; the last line (the top-level closing bracket) gains the one-space prefix.
    """
    data = np.frombuffer(body, dtype=np.uint8)
    starts = np.flatnonzero(data == _NEWLINE) + 1
    if starts.size == 0:
        return body
    spaces = np.zeros(starts.size, dtype=np.int64)
    active = np.flatnonzero(data[starts[:-1]] == _SPACE)
    while active.size:
        spaces[active] += 1
        active = active[data[starts[active] + spaces[active]] == _SPACE]
    drop = spaces // 2 - 1
    deep = drop > 0
    removed = np.zeros(data.size + 1, dtype=np.int8)  # +1 where a dropped run starts, -1 where it ends
    removed[starts[deep]] += 1
    removed[starts[deep] + drop[deep]] -= 1
    kept: bytes = data[np.cumsum(removed[:-1], dtype=np.int8) == 0].tobytes()
    return kept[:-1] + b" " + kept[-1:]


def go_json(data: Any, *, pretty: bool = True, layout: str = "go-restful") -> bytes:
    """JSON bytes as go-restful wrote them: ``json.MarshalIndent(v, " ", " ")`` when pretty (every line
    after the first starts with one space, plus one per level), else ``json.Encoder`` (compact, with a
    final newline); HTML characters escaped as Go does. ``layout="apiserver"`` indents as the Kubernetes
    API server does when pretty (two spaces per level, final newline)."""
    option = orjson.OPT_INDENT_2 if pretty else 0
    body = orjson.dumps(data, default=_default, option=option | orjson.OPT_NON_STR_KEYS)
    if not pretty or layout == "apiserver":
        body += b"\n"
    else:
        body = go_indent(body)
    return go_escape(body)


def go_escape(body: bytes) -> bytes:
    """``<``, ``>`` and ``&`` escaped in JSON bytes, as Go's encoder does."""
    for char, escaped in _GO_ESCAPES:
        if char in body:
            body = body.replace(char, escaped)
    return body


def json_response(data: Any, *, pretty: bool = True, status: int = 200) -> web.Response:
    """``application/json``; pretty-printed unless ``pretty`` is False (as go-restful did per route)."""
    return web.Response(body=go_json(data, pretty=pretty), status=status, content_type="application/json")


def apiserver_pretty(request: web.Request) -> bool:
    """Whether the Kubernetes API server would pretty-print for ``request``: ``?pretty=`` if given (Go's
    ParseBool), else for curl, Wget and browsers (their User-Agent)."""
    flag = request.query.get("pretty")
    if flag:
        return flag in ("1", "t", "T", "true", "TRUE", "True")
    return request.headers.get("User-Agent", "").startswith(("curl", "Wget", "Mozilla/5.0"))


def apiserver_json_response(request: web.Request, data: Any, status: int = 200) -> web.Response:
    """``application/json`` as an aggregated API server (metrics-server) answers: compact unless
    :func:`apiserver_pretty`."""
    body = go_json(data, pretty=apiserver_pretty(request), layout="apiserver")
    return web.Response(body=body, status=status, content_type="application/json")


def status_response(request: web.Request, code: int, reason: str, message: str,
                    details: dict[str, str] | None = None) -> web.Response:
    """A failed request as a Kubernetes API server answers it: a ``v1`` ``Status`` (``status: Failure``) laid out
    as :func:`apiserver_json_response`. Clients read it: kubectl prints ``Error from server (<reason>): <message>``
    (a plain-text body becomes "the server could not find the requested resource")."""
    status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": message, "reason": reason}
    if details:
        status["details"] = details
    status["code"] = code
    return apiserver_json_response(request, status, status=code)


def error_response(status: int, message: str) -> web.Response:
    """A plain-text error, as go-restful's ``WriteError``."""
    return web.Response(text=message, status=status, content_type="text/plain")
