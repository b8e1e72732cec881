"""A strict InfluxDB 2 / InfluxDB 3 write-API double for tests (no InfluxDB 2/3 installs from the
registries this project uses; InfluxDB 1.x tests run the real ``influxd``).

It serves ``POST /api/v2/write`` (``Authorization: Token``, ``org`` and ``bucket`` must exist,
``precision``) and ``POST /api/v3/write_lp`` (``Authorization: Bearer``, ``db``, ``precision``),
gunzips ``Content-Encoding: gzip``, and reads every line with the strict
:func:`~heapster_sink_influxdb.linereader.parse_line`. Like the real servers:

* v2 refuses the whole request with ``400 {"code": "invalid", "message": "unable to parse ..."}``
  when a line does not parse, and answers ``422 ... partial write: field type conflict ...
  dropped=N`` after storing the rest when a field changes type;
* v3 stores the good lines and answers ``400 {"error": "partial write of line protocol occurred",
  "data": [{"original_line", "line_number", "error_message"}]}`` (``parsing failed ...`` when no
  line was good).

    with InfluxWriteDouble(org="acme", bucket="k8s", token="t0k") as server:
        ... write to server.url ...
        server.points  # (bucket, measurement, tags, field, value, time_ns)

With ``query_backend=`` a running real ``influxd`` 1.x (:func:`heapster_sink_influxdb.testing.influxd_server`),
it also answers the v1-compatible ``GET|POST /query`` as InfluxDB 2 or 3 do (``flavor="v2"|"v3"``):
the stored lines are copied to a database of that influxd (one per bucket), and InfluxQL is answered
by it, InfluxDB 2's engine being 1.x's. What differs between the versions is done by the double:

* v2: credentials as ``Authorization: Token <token>`` (or ``Token user:token``), else
  ``401 {"code": "unauthorized", "message": "unauthorized access"}``;
  ``db`` (and ``rp``: empty or ``autogen``) must name a bucket (virtual DBRP mapping), else every
  statement fails inside a ``200`` (``database not found: <db>`` / ``retention policy not found``).
* v3: ``Authorization: Bearer|Token <token>``, Basic with the token as password, or ``p``, else
  ``401 {"error": "unauthorized access"}``; the query only from the URL; ``db`` required (400), an
  unknown database ``404 {"error": "database not found: <db>"}``, more than one statement 400;
  series without ``tags`` (grouped tags become columns after ``time``); a statement error is a 400.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

from aiohttp import web

from heapster.testing.net import HttpServerThread, decoded_body
from heapster_sink_influxdb.linereader import FieldValue, parse_line, split_lines

if TYPE_CHECKING:
    from heapster_sink_influxdb.testing import InfluxServer

StoredPoint = tuple[str, str, frozenset[tuple[str, str]], str, FieldValue, int]
V2_PRECISIONS = {"ns": 1, "us": 1000, "ms": 1_000_000, "s": 1_000_000_000}
V3_PRECISIONS = {"nanosecond": 1, "microsecond": 1000, "millisecond": 1_000_000, "second": 1_000_000_000,
                 "auto": 1}


def _kind(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return "float" if isinstance(value, float) else "string"


class InfluxWriteDouble(HttpServerThread):
    """The double, served from its own thread on a free loopback port (kept across stop/start)."""

    def __init__(self, org: str = "acme", bucket: str = "k8s", token: str = "s3cr3t-token", *,
                 query_backend: InfluxServer | None = None, flavor: str = "v2") -> None:
        self.query_backend = query_backend
        self.flavor = flavor
        self._backend_prefix = f"d{uuid.uuid4().hex[:10]}_"
        self._backend_dbs: set[str] = set()
        self.org = org
        self.buckets = {bucket}
        self.token = token
        self.points: list[StoredPoint] = []
        self.requests: list[dict[str, Any]] = []
        self._types: dict[tuple[str, str, str], str] = {}
        self._faults: deque[int] = deque()
        self._lock = threading.Lock()
        super().__init__(self._app, name="influx-write-double", auto_decompress=False)

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` writes with ``status``."""
        with self._lock:
            self._faults.extend([status] * times)

    def stored(self, bucket: str | None = None) -> list[StoredPoint]:
        with self._lock:
            return [p for p in self.points if bucket is None or p[0] == bucket]

    # --- the write APIs --------------------------------------------------------------------------
    def _store(self, bucket: str, lines: list[str], scale: int, now_ns: int) -> tuple[list[dict[str, Any]], int]:
        """Store the good lines; ``(parse errors, type conflicts)``."""
        errors: list[dict[str, Any]] = []
        conflicts = 0
        stored: list[str] = []
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                measurement, tags, fields, stamp = parse_line(line)
            except ValueError as exc:
                errors.append({"original_line": line, "line_number": number, "error_message": str(exc)})
                continue
            time_ns = now_ns if stamp is None else stamp * scale
            tagset = frozenset(tags.items())
            clean = True
            with self._lock:
                for field, value in fields.items():
                    key = (bucket, measurement, field)
                    known = self._types.setdefault(key, _kind(value))
                    if known != _kind(value):
                        conflicts += 1
                        clean = False
                        continue
                    self.points.append((bucket, measurement, tagset, field, value, time_ns))
            if clean and stamp is not None:
                stored.append(f"{line.rstrip().rsplit(' ', 1)[0]} {time_ns}")
        self._copy_to_backend(bucket, stored)
        return errors, conflicts

    def _fault(self, request: web.Request) -> int | None:
        with self._lock:
            self.requests.append({"path": request.path, "query": dict(request.query),
                                  "headers": dict(request.headers)})
            return self._faults.popleft() if self._faults else None

    async def _v2_write(self, request: web.Request) -> web.Response:
        fault = self._fault(request)
        if fault is not None:
            return web.json_response({"code": "internal error", "message": f"injected {fault}"}, status=fault)
        if request.headers.get("Authorization") != f"Token {self.token}":
            return web.json_response({"code": "unauthorized", "message": "unauthorized access"}, status=401)
        org, bucket = request.query.get("org", ""), request.query.get("bucket", "")
        if org != self.org:
            return web.json_response({"code": "not found", "message": f'organization name "{org}" not found'},
                                     status=404)
        if bucket not in self.buckets:
            return web.json_response({"code": "not found", "message": f'bucket "{bucket}" not found'}, status=404)
        precision = request.query.get("precision", "ns")
        if precision not in V2_PRECISIONS:
            return web.json_response({"code": "invalid", "message": f"invalid precision {precision!r}"}, status=400)
        try:
            lines = split_lines((await decoded_body(request)).decode())
        except ValueError as exc:
            return web.json_response({"code": "invalid", "message": str(exc)}, status=400)
        for line in lines:  # v2 refuses the whole request for one unparsable line
            if line.strip() and not line.lstrip().startswith("#"):
                try:
                    parse_line(line)
                except ValueError as exc:
                    return web.json_response(
                        {"code": "invalid", "message": f"unable to parse '{line}': {exc}"}, status=400)
        _, conflicts = self._store(bucket, lines, V2_PRECISIONS[precision], 0)
        if conflicts:
            message = (f"failure writing points to database: partial write: field type conflict: "
                       f"dropped={conflicts}")
            return web.json_response({"code": "unprocessable entity", "message": message}, status=422)
        return web.Response(status=204)

    async def _v3_write(self, request: web.Request) -> web.Response:
        fault = self._fault(request)
        if fault is not None:
            return web.json_response({"error": f"injected {fault}", "data": None}, status=fault)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "the request was not authenticated", "data": None}, status=401)
        db = request.query.get("db", "")
        if not db:
            return web.json_response({"error": "missing query parameter 'db'", "data": None}, status=400)
        precision = request.query.get("precision", "auto")
        if precision not in V3_PRECISIONS:
            return web.json_response({"error": f"invalid precision {precision!r}", "data": None}, status=400)
        try:
            lines = split_lines((await decoded_body(request)).decode())
        except ValueError as exc:
            return web.json_response({"error": str(exc), "data": None}, status=400)
        with self._lock:
            self.buckets.add(db)  # InfluxDB 3 creates the database on its first write
        errors, conflicts = self._store(db, lines, V3_PRECISIONS[precision], 0)
        good = sum(1 for line in lines if line.strip()) - len(errors) - conflicts
        if errors or conflicts:
            text = "partial write of line protocol occurred" if good > 0 else "parsing failed for write_lp endpoint"
            conflict = {"original_line": "", "line_number": 0, "error_message": "field type conflict"}
            data = errors + [conflict] * conflicts
            return web.json_response({"error": text, "data": data}, status=400)
        return web.Response(status=204)

    # --- the v1-compatible query API (answered by the real influxd behind) ---------------------------
    def _backend_db(self, bucket: str) -> str:
        return self._backend_prefix + bucket

    def _copy_to_backend(self, bucket: str, lines: list[str]) -> None:
        backend = self.query_backend
        if backend is None or not lines:
            return
        db = self._backend_db(bucket)
        if db not in self._backend_dbs:
            backend.query(f'CREATE DATABASE "{db}"')
            self._backend_dbs.add(db)
        params = urllib.parse.urlencode({"db": db, "precision": "ns"})
        request = urllib.request.Request(f"{backend.url}/write?{params}", data="\n".join(lines).encode(),
                                         method="POST")
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert resp.status == 204, resp.read()

    def _query_token(self, request: web.Request) -> str | None:
        """The API token a v1-compatible query request carries, in the forms the server takes it.

        InfluxDB 2 takes an API token only as ``Token [user:]<token>``; ``u``/``p`` and Basic are
        checked against v1 users (``influx v1 auth``), which this double has none of. InfluxDB 3
        takes the token as ``Bearer``/``Token``, as a Basic password or as ``p``.
        """
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme == "Token":
            return value.rpartition(":")[2]
        if self.flavor != "v3":
            return None
        if scheme == "Bearer":
            return value
        if scheme == "Basic":
            try:
                return base64.b64decode(value).decode().partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                return None
        return request.query.get("p")

    async def _query(self, request: web.Request) -> web.Response:
        fault = self._fault(request)
        v3 = self.flavor == "v3"
        if fault is not None:
            return web.json_response({"error": f"injected {fault}"}, status=fault)
        if self.query_backend is None:
            return web.json_response({"error": "this double has no query backend"}, status=501)
        if self._query_token(request) != self.token:
            body = {"error": "unauthorized access"} if v3 else {"code": "unauthorized",
                                                                  "message": "unauthorized access"}
            return web.json_response(body, status=401)
        form = request.query if v3 else {**request.query, **(await request.post())}
        query, db, rp = str(form.get("q", "")).strip(), str(form.get("db", "")), str(form.get("rp", ""))
        epoch = str(form.get("epoch", ""))
        statements = split_statements(query)
        if not statements:
            return web.json_response({"error": "missing required parameter \"q\""} if v3 else
                                     {"code": "invalid", "message": 'missing required parameter "q"'},
                                     status=400)
        if v3:
            return await self._v3_query(statements, db, epoch)
        if db not in self.buckets or rp not in ("", "autogen"):
            results = [{"statement_id": i, "error": (f"database not found: {db}" if s.upper().startswith("SHOW")
                                                     else f"retention policy not found: {rp}")}
                       for i, s in enumerate(statements)]
            return web.json_response({"results": results})
        return web.json_response({"results": await self._backend_query(query, db, epoch)})

    async def _v3_query(self, statements: list[str], db: str, epoch: str) -> web.Response:
        if not db:
            return web.json_response(
                {"error": "must specify a 'db' parameter, or provide the database in the InfluxQL query"}, status=400)
        if db not in self.buckets:
            return web.json_response({"error": f"database not found: {db}"}, status=404)
        if len(statements) != 1:
            return web.json_response({"error": "must provide only one InfluxQl statement per query"}, status=400)
        result = (await self._backend_query(statements[0], db, epoch))[0]
        if "error" in result:
            return web.json_response({"error": f"error while planning query: {result['error']}"}, status=400)
        return web.json_response({"results": [{"statement_id": 0, "series": v3_series(result.get("series", []))}]})

    async def _backend_query(self, query: str, bucket: str, epoch: str) -> list[dict[str, Any]]:
        backend = self.query_backend
        assert backend is not None
        params = {"q": query, "db": self._backend_db(bucket)}
        if epoch:
            params["epoch"] = epoch
        url = f"{backend.url}/query?{urllib.parse.urlencode(params)}"

        def run() -> list[dict[str, Any]]:
            with urllib.request.urlopen(url, timeout=30) as resp:
                results: list[dict[str, Any]] = json.load(resp)["results"]
                return results

        return await asyncio.to_thread(run)

    # --- serving ---------------------------------------------------------------------------------
    def _app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 2**20)
        app.router.add_post("/api/v2/write", self._v2_write)
        app.router.add_post("/api/v3/write_lp", self._v3_write)
        app.router.add_get("/query", self._query)
        app.router.add_post("/query", self._query)
        return app


def split_statements(query: str) -> list[str]:
    """The statements of an InfluxQL query, split at ``;`` outside quotes and regexes."""
    statements: list[str] = []
    current: list[str] = []
    quote = ""
    escaped = False
    for char in query:
        if escaped:
            escaped = False
        elif char == "\\" and quote:
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"/":
            quote = char
        elif char == ";":
            statements.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    statements.append("".join(current).strip())
    return [s for s in statements if s]


def v3_series(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """1.x series as InfluxDB 3 answers them: one per measurement, grouped tags as columns after ``time``."""
    merged: dict[str, dict[str, Any]] = {}
    for item in series:
        tags: dict[str, str] = item.get("tags") or {}
        columns = [item["columns"][0], *tags, *item["columns"][1:]]
        values = [[row[0], *tags.values(), *row[1:]] for row in item.get("values", [])]
        target = merged.setdefault(item["name"], {"name": item["name"], "columns": columns, "values": []})
        target["values"].extend(values)
    return list(merged.values())


__all__ = ["InfluxWriteDouble", "StoredPoint", "split_statements", "v3_series"]
