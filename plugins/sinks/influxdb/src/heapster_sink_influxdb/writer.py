"""Posting line-protocol chunks to InfluxDB's ``/write``: gzip, database re-creation, error sorting.

Every chunk ends in one of three states: written (possibly minus a few rejected points, which
InfluxDB 1.x reports as a ``400 partial write`` after storing the rest), retryable (server down,
5xx, timeout: nothing is lost, the caller raises :class:`RetryableError`), or rejected as a whole
(auth failure). A chunk refused as a whole with 400/413 is bisected so that only the offending
points are lost.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from dataclasses import dataclass

import aiohttp
import structlog

from heapster.errors import HeapsterError, PermanentError
from heapster.gzipbody import gzip_body
from heapster.httpsession import LazySession
from heapster_sink_influxdb.admin import InfluxAdmin, user_agent
from heapster_sink_influxdb.config import InfluxConfig
from heapster_sink_influxdb.lineproto import line_parts

log = structlog.get_logger(__name__)

"""Level 1 costs a fraction of the CPU of level 6/9 and still shrinks line protocol ~25x."""
WRITE_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10)
MAX_LOGGED_REJECTIONS = 1000
LOGGED_LINE_CHARS = 500

_DROPPED = re.compile(r"dropped=(\d+)")
_CONFLICT = re.compile(
    r'input field "(?P<field>[^"]*)" on measurement "(?P<measurement>[^"]*)" is type (?P<kind>\w+)')
_PARSE = re.compile(r"unable to parse '(?P<line>(?:[^'\\]|\\.)*)'")
_MISSING_TARGET = ("database not found", "retention policy not found")


@dataclass(slots=True)
class ChunkResult:
    """What happened to one chunk of points."""

    written: int = 0
    dropped: int = 0
    """Points InfluxDB rejected while storing the rest (type conflicts, unparsable lines)."""
    retry_reason: str | None = None
    """Set when nothing was stored and a later attempt may succeed."""
    rejected: int = 0
    """Points refused as a whole for a reason retrying cannot fix (authentication, ...)."""
    rejected_reason: str | None = None

    def add(self, other: ChunkResult) -> None:
        self.written += other.written
        self.dropped += other.dropped
        self.rejected += other.rejected
        self.retry_reason = self.retry_reason or other.retry_reason
        self.rejected_reason = self.rejected_reason or other.rejected_reason


class LineWriter:
    """Writes chunks of lines to one database and retention policy over a shared aiohttp session."""

    def __init__(self, config: InfluxConfig, admin: InfluxAdmin, sink_name: str) -> None:
        self.config = config
        self.admin = admin
        self.sink_name = sink_name
        self._session = LazySession(self._new_session)
        self._db_ready = False
        self._db_lock: asyncio.Lock | None = None
        self._logged: set[str] = set()
        self._url, self._params = write_endpoint(config)
        self._headers = {"User-Agent": user_agent(), "Content-Encoding": "gzip",
                         "Content-Type": "text/plain; charset=utf-8"}
        if config.api != "v1":
            if config.token:
                scheme = "Token" if config.api == "v2" else "Bearer"
                self._headers["Authorization"] = f"{scheme} {config.token}"
        elif config.user:
            token = base64.b64encode(f"{config.user}:{config.password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=max(4, self.config.concurrency * 2),
            ssl=not self.config.insecure_ssl)
        return aiohttp.ClientSession(
            connector=connector, timeout=WRITE_TIMEOUT, headers=self._headers)

    async def close(self) -> None:
        await self._session.close()

    async def ensure_database(self, *, force: bool = False) -> None:
        """Create the database and retention policy once (again with ``force``).

        Raises :class:`RetryableError` when the server cannot be reached. InfluxDB 2 buckets are
        managed outside heapster, and InfluxDB 3 creates a database on its first write: nothing to do.
        """
        if self.config.api != "v1":
            return
        if self._db_lock is None:
            self._db_lock = asyncio.Lock()
        async with self._db_lock:
            if self._db_ready and not force:
                return
            await asyncio.to_thread(self.admin.ensure_database)
            self._db_ready = True

    @staticmethod
    async def compress(lines: list[str]) -> bytes:
        """The gzipped request body of a chunk (in a thread when large: zlib releases the GIL)."""
        return await gzip_body("\n".join(lines).encode())

    async def write(self, lines: list[str], body: bytes | None = None) -> ChunkResult:
        """Write one chunk (``body``: its :meth:`compress` result, if already made).

        Never raises for server or network trouble; the result says what happened.
        """
        try:
            await self.ensure_database()
        except HeapsterError as exc:
            return self._not_written(lines, exc)
        status, error = await self._post(lines, body)
        if status != 204 and any(marker in error for marker in _MISSING_TARGET):
            log.warning("influxdb.database.missing", sink=self.sink_name, db=self.config.db,
                        rp=self.config.rp, error=error)
            self._db_ready = False
            try:
                await self.ensure_database(force=True)
            except HeapsterError as exc:
                return self._not_written(lines, exc)
            status, error = await self._post(lines)
        return await self._sort(lines, status, error)

    def _not_written(self, lines: list[str], exc: HeapsterError) -> ChunkResult:
        if isinstance(exc, PermanentError):
            return ChunkResult(rejected=len(lines), rejected_reason=str(exc))
        return ChunkResult(retry_reason=str(exc))

    async def _sort(self, lines: list[str], status: int, error: str) -> ChunkResult:
        if status == 204:
            return ChunkResult(written=len(lines))
        if status == 0 or status >= 500 or status in (408, 429):
            reason = error if status == 0 else f"HTTP {status}: {error}"
            return ChunkResult(retry_reason=self.config.redact(f"InfluxDB write failed: {reason}"))
        if status in (400, 413, 422) and "partial write" in error:  # 422: InfluxDB 2
            dropped = min(len(lines), self._dropped_count(error))
            self._log_rejection(error, lines, dropped)
            return ChunkResult(written=len(lines) - dropped, dropped=dropped)
        if status in (400, 413, 422):
            if len(lines) == 1:
                self._log_rejection(error, lines, 1)
                return ChunkResult(dropped=1)
            return await self._bisect(lines)
        reason = self.config.redact(f"InfluxDB refused the write (HTTP {status}): {error}")
        return ChunkResult(rejected=len(lines), rejected_reason=reason)

    async def _bisect(self, lines: list[str]) -> ChunkResult:
        """Write both halves separately, so one bad point costs only itself."""
        middle = len(lines) // 2
        result = ChunkResult()
        for half in (lines[:middle], lines[middle:]):
            status, error = await self._post(half)
            result.add(await self._sort(half, status, error))
        return result

    async def _post(self, lines: list[str], body: bytes | None = None) -> tuple[int, str]:
        """``(status, error text)``; status 0 when the server could not be reached."""
        data = body if body is not None else await self.compress(lines)
        try:
            async with self._session.get().post(self._url, params=self._params, data=data) as resp:
                if resp.status == 204:
                    return 204, ""
                text = await resp.text(errors="replace")
                return resp.status, _error_text(text)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return 0, f"{type(exc).__name__}: {self.config.base_url} unreachable"

    @staticmethod
    def _dropped_count(error: str) -> int:
        match = _DROPPED.search(error)
        conflicts = int(match.group(1)) if match else 0
        return conflicts + len(_PARSE.findall(error))

    def _log_rejection(self, error: str, lines: list[str], dropped: int) -> None:
        """Log a kind of rejection once per sink, naming the offending line."""
        key = _DROPPED.sub("", _PARSE.sub("unable to parse", error)).strip()
        if key in self._logged:
            return
        if len(self._logged) < MAX_LOGGED_REJECTIONS:
            self._logged.add(key)
        line = _offending_line(error, lines, dropped)
        log.error("influxdb.write.rejected", sink=self.sink_name, error=self.config.redact(error),
                  line=self.config.redact(line[:LOGGED_LINE_CHARS]), dropped=dropped,
                  note="logged once per kind of rejection; see heapster_sink_dropped_items_total")


def _error_text(body: str) -> str:
    try:
        decoded = json.loads(body)
    except ValueError:
        return body.strip()
    if isinstance(decoded, dict) and isinstance(decoded.get("error"), str):
        rejected = decoded.get("data")
        if isinstance(rejected, list) and rejected:  # InfluxDB 3: the lines it did not store
            first = rejected[0] if isinstance(rejected[0], dict) else {}
            return (f"{decoded['error']}: {first.get('error_message', '')} in line "
                    f"{first.get('original_line', '')!r} dropped={len(rejected)}")
        return str(decoded["error"])
    if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):  # InfluxDB 2
        return str(decoded["message"])
    return body.strip()


def write_endpoint(config: InfluxConfig) -> tuple[str, dict[str, str]]:
    """URL and query parameters of the write API: 1.x ``/write``, 2.x ``/api/v2/write``, 3.x ``/api/v3/write_lp``."""
    if config.api == "v2":
        return (f"{config.base_url}/api/v2/write",
                {"org": config.org, "bucket": config.bucket, "precision": "ns"})
    if config.api == "v3":
        return f"{config.base_url}/api/v3/write_lp", {"db": config.bucket, "precision": "nanosecond"}
    return f"{config.base_url}/write", {"db": config.db, "rp": config.rp, "precision": "ns"}


def _offending_line(error: str, lines: list[str], dropped: int) -> str:
    parsed = _PARSE.search(error)
    if parsed:
        return parsed.group("line")
    conflict = _CONFLICT.search(error)
    if conflict:
        wanted = (conflict.group("measurement"), conflict.group("field"), conflict.group("kind"))
        for line in lines:
            measurement, field, value = line_parts(line)
            if (measurement, field, _value_kind(value)) == wanted:
                return line
    return lines[0] if lines and dropped >= len(lines) else ""


def _value_kind(value: str) -> str:
    """InfluxDB's name for the type of a line-protocol field value."""
    if value.startswith('"'):
        return "string"
    if value.endswith("i"):
        return "integer"
    if value in ("t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"):
        return "boolean"
    return "float"
