"""A strict Librato API double for tests: ``POST /v1/measurements`` checked as the Librato API does.

The Librato service cannot run here, so this double follows its documented rules for tagged
measurements and answers as it does:

* HTTP basic auth with a known user and token, else ``401 {"errors": {"request": ["Authorization Required"]}}``;
* only ``POST`` with a JSON object holding a non-empty ``measurements`` array, else 400;
* every measurement: ``name`` matching ``[-.:_A-Za-z0-9]+`` and at most 255 characters, a numeric
  ``value`` (``false``/``null`` or missing is refused), ``time`` an integer if present, and at least one
  tag once the request's ``tags`` are merged in; tag names ``[-.:_A-Za-z0-9]+`` (64 characters at
  most), values ``[-.:_?\\\\/A-Za-z0-9 ]+`` (255 at most);
* a request with any bad measurement is refused as a whole (400 with ``errors.params``) and nothing
  is stored; a good one is ``202`` with a summary.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from heapster.testing.net import HttpServerThread

_NAME = re.compile(r"^[-.:_A-Za-z0-9]{1,255}$")
_TAG_NAME = re.compile(r"^[-.:_A-Za-z0-9]{1,64}$")
_TAG_VALUE = re.compile(r"^[-.:_?\\/A-Za-z0-9 ]{1,255}$")


@dataclass(frozen=True, slots=True)
class Measurement:
    """One measurement the API accepted (request tags merged in)."""

    name: str
    value: float
    time: int | None
    tags: dict[str, str]


@dataclass
class LibratoDouble:
    """Credentials, stored measurements and counters; :meth:`serve` runs it on a loopback port."""

    username: str = "heapster@example.com"
    token: str = "t0ken-s3cret"
    measurements: list[Measurement] = field(default_factory=list)
    requests: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    user_agents: set[str] = field(default_factory=set)

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, token = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (user, token) == (self.username, self.token)

    @staticmethod
    def problem(item: Any, request_tags: dict[str, Any]) -> dict[str, list[str]] | None:
        """Librato's ``errors.params`` for one measurement, or None when it is good."""
        if not isinstance(item, dict):
            return {"measurements": ["is invalid"]}
        name, value = item.get("name"), item.get("value")
        if not isinstance(name, str) or not _NAME.match(name):
            return {"name": ["is not present" if not name else "is invalid"]}
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            return {"value": ["is not present" if value is None else "is not a number"]}
        if not math.isfinite(value):
            return {"value": ["is not a number"]}
        if "time" in item and (not isinstance(item["time"], int) or isinstance(item["time"], bool)):
            return {"time": ["is not a number"]}
        tags = {**request_tags, **(item.get("tags") or {})}
        if not tags:
            return {"tags": ["must have at least one tag"]}
        for key, tag_value in tags.items():
            if not _TAG_NAME.match(str(key)):
                return {"tags": [f"name {key!r} is invalid"]}
            if not isinstance(tag_value, str) or not _TAG_VALUE.match(tag_value):
                return {"tags": [f"value {tag_value!r} of {key!r} is invalid"]}
        return None

    async def post(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            return web.json_response({"errors": {"request": ["Method Not Allowed"]}}, status=405)
        if not self._authorized(request):
            return web.json_response({"errors": {"request": ["Authorization Required"]}}, status=401)
        self.requests += 1
        self.user_agents.add(request.headers.get("User-Agent", ""))
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"errors": {"request": ["Unable to parse JSON"]}}, status=400)
        items = body.get("measurements") if isinstance(body, dict) else None
        request_tags = body.get("tags") or {} if isinstance(body, dict) else {}
        if not isinstance(items, list) or not items or not isinstance(request_tags, dict):
            return web.json_response({"errors": {"params": {"measurements": ["is not present"]}}}, status=400)
        for item in items:
            problem = self.problem(item, request_tags)
            if problem:
                self.refused.append(item if isinstance(item, dict) else {"item": item})
                return web.json_response({"errors": {"params": problem}}, status=400)
        for item in items:
            self.measurements.append(Measurement(item["name"], float(item["value"]), item.get("time"),
                                                 {**request_tags, **(item.get("tags") or {})}))
        summary = {"total": len(items), "accepted": len(items), "failed": 0, "filtered": 0}
        return web.json_response({"measurements": {"summary": summary}}, status=202)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/v1/measurements", self.post)
        return app

    def serve(self, port: int = 0) -> HttpServerThread:
        """Run on 127.0.0.1 (``port`` 0: a free one); ``stop()``/``start()`` keep the port and the data."""
        return HttpServerThread(self.app, port).start()

    def find(self, name: str, **tags: str) -> list[Measurement]:
        """Accepted measurements called ``name`` whose tags include ``tags``."""
        return [m for m in self.measurements if m.name == name and tags.items() <= m.tags.items()]
