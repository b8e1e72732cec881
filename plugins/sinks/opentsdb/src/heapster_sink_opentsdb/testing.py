"""A strict OpenTSDB double for tests: ``POST /api/put`` validated as OpenTSDB 2.x does, points kept in memory.

No OpenTSDB can run here (it needs HBase or Bigtable), so this double follows OpenTSDB's
``PutDataPointRpc``/``IncomingDataPoint``/``Tags.validateString`` rules and answers:

* only ``POST``; an empty body is ``400 Missing request content``; a body that is not a JSON object or
  array of objects is ``400 Unable to parse the given JSON``;
* per data point: a non-empty ``metric``, a positive integer ``timestamp`` (seconds, or milliseconds
  when above 9 999 999 999), a finite numeric ``value`` (number, or a string holding one), at least
  one tag and at most ``max_tags`` (``tsd.storage.max_tags``, 8 by default), metric, tag names and
  values non-empty and made of letters, digits, ``-``, ``_``, ``.``, ``/``; with
  ``auto_create_metrics=False`` (OpenTSDB's default) an unknown metric is refused;
* good points are stored even when others in the same request fail; then the answer is 400 with
  ``{"success", "failed", "errors"}`` when ``details`` (or ``summary``, without ``errors``) was asked,
  else ``{"error": {"code": 400, "message": "One or more data points had errors", ...}}``; all good is
  ``204`` without ``summary``/``details`` and ``200`` with them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from heapster.testing.net import HttpServerThread

MAX_TAGS = 8


def _valid_name(text: Any) -> bool:
    return isinstance(text, str) and bool(text) and all(c.isalnum() or c in "-_./" for c in text)


@dataclass(frozen=True, slots=True)
class StoredPoint:
    """One data point OpenTSDB accepted (timestamp in seconds)."""

    metric: str
    timestamp: int
    value: float
    tags: tuple[tuple[str, str], ...]


@dataclass
class OpentsdbDouble:
    """The double's rules and stored points; :meth:`serve` runs it on a loopback port."""

    max_tags: int = MAX_TAGS
    auto_create_metrics: bool = True
    known_metrics: set[str] = field(default_factory=set)
    points: list[StoredPoint] = field(default_factory=list)
    requests: int = 0

    def check(self, dp: Any) -> str | None:
        """Why OpenTSDB would refuse one data point, or None."""
        if not isinstance(dp, dict):
            return "Unable to parse the given JSON"
        metric, timestamp, value, tags = dp.get("metric"), dp.get("timestamp"), dp.get("value"), dp.get("tags")
        if not metric:
            return "Metric name was empty"
        if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp <= 0:
            return "Invalid timestamp"
        if value is None or value == "":
            return "Empty value"
        if not tags:
            return "Missing tags"
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return "Unable to parse value to a number"
        try:
            number = float(value)
        except ValueError:
            return "Unable to parse value to a number"
        if not math.isfinite(number):
            return "value is NaN or Infinite"
        if not _valid_name(metric):
            return f'Invalid metric name ("{metric}"): illegal character'
        if not isinstance(tags, dict):
            return "Unable to parse the given JSON"
        if len(tags) > self.max_tags:
            return f"Too many tags: {len(tags)} maximum allowed: {self.max_tags}, tags: {tags}"
        for key, tag_value in tags.items():
            if not _valid_name(key):
                return f'Invalid tag name ("{key}"): illegal character or empty string'
            if not _valid_name(tag_value):
                return f'Invalid tag value ("{tag_value}"): illegal character or empty string'
        if not self.auto_create_metrics and metric not in self.known_metrics:
            return f"No such name for 'metrics': '{metric}'"
        return None

    async def put(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            return _error(405, "Method not allowed", f"The HTTP method [{request.method}] is not permitted")
        self.requests += 1
        body = await request.read()
        if not body:
            return _error(400, "Missing request content")
        try:
            parsed = json.loads(body)
        except ValueError:
            return _error(400, "Unable to parse the given JSON")
        items = parsed if isinstance(parsed, list) else [parsed]
        if not all(isinstance(i, dict) for i in items):
            return _error(400, "Unable to parse the given JSON")
        errors = []
        for dp in items:
            reason = self.check(dp)
            if reason:
                errors.append({"datapoint": dp, "error": reason})
                continue
            timestamp = dp["timestamp"] // 1000 if dp["timestamp"] > 9_999_999_999 else dp["timestamp"]
            self.points.append(StoredPoint(dp["metric"], timestamp, float(dp["value"]),
                                           tuple(sorted(dp["tags"].items()))))
        details, summary = "details" in request.query, "summary" in request.query
        if not errors:
            if details or summary:
                answer: dict[str, Any] = {"success": len(items), "failed": 0}
                if details:
                    answer["errors"] = []
                return web.json_response(answer)
            return web.Response(status=204)
        if details or summary:
            answer = {"success": len(items) - len(errors), "failed": len(errors)}
            if details:
                answer["errors"] = errors
            return web.json_response(answer, status=400)
        return _error(400, "One or more data points had errors",
                      'Please see the TSD logs or append "details" to the put request')

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/put", self.put)
        return app

    def serve(self, port: int = 0) -> HttpServerThread:
        """Run on 127.0.0.1 (``port`` 0: a free one); ``stop()``/``start()`` keep the port and the points."""
        return HttpServerThread(self.app, port).start()

    def find(self, metric: str, **tags: str) -> list[StoredPoint]:
        """Stored points of ``metric`` whose tags include ``tags``."""
        want = set(tags.items())
        return [p for p in self.points if p.metric == metric and want <= set(p.tags)]


def _error(status: int, message: str, details: str = "") -> web.Response:
    return web.json_response({"error": {"code": status, "message": message, "details": details}}, status=status)
