"""A strict Honeycomb API double for tests: the batch events endpoint on loopback, in a background thread.

``POST /1/batch/<dataset>`` with the ``X-Honeycomb-Team`` write key and a JSON array body, as
Honeycomb's API takes it: an unknown key is answered 401, a body that is not a JSON array 400, a body
over 5 MB 413; otherwise 200 with one ``{"status": 202}`` per accepted item, or ``{"status": 400,
"error": ...}`` for an item without a ``data`` object, with a ``time`` that is not an RFC 3339 string,
or over the 1 MB event size. Accepted events are kept (also across :meth:`stop` / :meth:`start`).
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from heapster.testing.net import HttpServerThread
from heapster.testing.servers import started

MAX_BODY = 5_000_000
MAX_EVENT = 1_000_000


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """One accepted event: its dataset, fields, time text and the request's headers."""

    dataset: str
    data: dict[str, Any]
    time: str | None
    headers: dict[str, str]


def _valid_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


class HoneycombServer(HttpServerThread):
    """The double; ``events`` holds what it accepted, ``writekeys`` the keys it knows."""

    def __init__(self, writekeys: tuple[str, ...] = ("test-writekey",)) -> None:
        self.writekeys = set(writekeys)
        self._lock = threading.Lock()
        self._events: list[ReceivedEvent] = []
        self.requests = 0
        self.fail_with: int | None = None
        """When set, every request is answered with this HTTP status (e.g. 503) and nothing is kept."""
        super().__init__(self._app, name="honeycomb-double")

    @property
    def events(self) -> list[ReceivedEvent]:
        with self._lock:
            return list(self._events)

    def healthy(self) -> HoneycombServer:
        """Serving and not failing, whatever an earlier test did (for a double shared by a session)."""
        self.fail_with = None
        if not self.running:
            self.start()
        return self

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY * 2)
        app.router.add_post("/1/batch/{dataset}", self._batch)
        return app

    def shutdown(self) -> None:
        self.close()

    async def _batch(self, request: web.Request) -> web.Response:
        with self._lock:
            self.requests += 1
        if self.fail_with is not None:
            return web.json_response({"error": "unavailable"}, status=self.fail_with)
        if request.headers.get("X-Honeycomb-Team", "") not in self.writekeys:
            return web.json_response({"error": "unknown API key - check your credentials"}, status=401)
        body = await request.read()
        if len(body) > MAX_BODY:
            return web.json_response({"error": "request body is too large"}, status=413)
        try:
            items = json.loads(body)
        except ValueError:
            return web.json_response({"error": "request body is malformed and cannot be read as JSON"}, status=400)
        if not isinstance(items, list):
            return web.json_response({"error": "request body should be a JSON array of events"}, status=400)
        dataset = request.match_info["dataset"]
        headers = dict(request.headers)
        results: list[dict[str, Any]] = []
        accepted: list[ReceivedEvent] = []
        for item in items:
            error = self._check(item)
            if error:
                results.append({"status": 400, "error": error})
                continue
            accepted.append(ReceivedEvent(dataset, item["data"], item.get("time"), headers))
            results.append({"status": 202})
        with self._lock:
            self._events.extend(accepted)
        return web.json_response(results)

    @staticmethod
    def _check(item: Any) -> str:
        if not isinstance(item, dict):
            return "event is not a JSON object"
        if not isinstance(item.get("data"), dict):
            return "event has no data object"
        if "time" in item and not _valid_time(item["time"]):
            return f"cannot parse time {item['time']!r}"
        if "samplerate" in item and not isinstance(item["samplerate"], int):
            return "samplerate must be an integer"
        if len(json.dumps(item["data"])) > MAX_EVENT:
            return f"event exceeds max event size of {MAX_EVENT} bytes"
        return ""


def honeycomb_server(**options: Any) -> contextlib.AbstractContextManager[HoneycombServer]:
    """A started double for the duration of the block."""
    return started(HoneycombServer(**options), "shutdown")
