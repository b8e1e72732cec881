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
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import zlib
from collections import deque
from typing import Any

from aiohttp import web

from heapster_sink_influxdb.linereader import FieldValue, parse_line, split_lines

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


class InfluxWriteDouble:
    """The double, served from its own thread on a free loopback port (kept across stop/start)."""

    def __init__(self, org: str = "acme", bucket: str = "k8s", token: str = "s3cr3t-token") -> None:
        self.org = org
        self.buckets = {bucket}
        self.token = token
        self.points: list[StoredPoint] = []
        self.requests: list[dict[str, Any]] = []
        self._types: dict[tuple[str, str, str], str] = {}
        self._faults: deque[int] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._loop is not None

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` writes with ``status``."""
        with self._lock:
            self._faults.extend([status] * times)

    def stored(self, bucket: str | None = None) -> list[StoredPoint]:
        with self._lock:
            return [p for p in self.points if bucket is None or p[0] == bucket]

    # --- the write APIs --------------------------------------------------------------------------
    async def _body(self, request: web.Request) -> str:
        body = await request.read()
        if request.headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error) as exc:
                raise ValueError(f"bad gzip body: {exc}") from None
        return body.decode()

    def _store(self, bucket: str, lines: list[str], scale: int, now_ns: int) -> tuple[list[dict[str, Any]], int]:
        """Store the good lines; ``(parse errors, type conflicts)``."""
        errors: list[dict[str, Any]] = []
        conflicts = 0
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
            with self._lock:
                for field, value in fields.items():
                    key = (bucket, measurement, field)
                    known = self._types.setdefault(key, _kind(value))
                    if known != _kind(value):
                        conflicts += 1
                        continue
                    self.points.append((bucket, measurement, tagset, field, value, time_ns))
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
            lines = split_lines(await self._body(request))
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
            lines = split_lines(await self._body(request))
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

    # --- serving ---------------------------------------------------------------------------------
    async def _serve(self) -> None:
        app = web.Application(client_max_size=256 * 2**20)
        app.router.add_post("/api/v2/write", self._v2_write)
        app.router.add_post("/api/v3/write_lp", self._v3_write)
        self._runner = web.AppRunner(app, access_log=None, auto_decompress=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server: Any = getattr(site, "_server", None)
        self.port = int(server.sockets[0].getsockname()[1])

    def start(self) -> InfluxWriteDouble:
        """Serve until :meth:`stop` (the same port after a restart)."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="influx-write-double", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), loop).result(10)
        return self

    def stop(self) -> None:
        """Stop serving: connections are refused until :meth:`start`."""
        loop, runner = self._loop, self._runner
        if loop is None:
            return
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()
        self._loop = self._runner = self._thread = None

    def __enter__(self) -> InfluxWriteDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["InfluxWriteDouble", "StoredPoint"]
