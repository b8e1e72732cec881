"""InfluxQL over InfluxDB 2's and 3's v1-compatible ``/query`` endpoint, for the historical API.

* InfluxDB 2: ``GET /query?db=<bucket>&epoch=ns&q=...`` with ``Authorization: Token <token>``; the
  bucket's virtual DBRP mapping (database = bucket name, default retention policy) routes the query.
  Several statements may share one request, as with 1.x. An unknown database is a statement error
  inside a ``200`` answer.
* InfluxDB 3: the same request with ``db=<database>``; one statement per request (it answers ``400
  must provide only one InfluxQl statement per query`` otherwise), so statements are sent one by one.
  An unknown database is a ``404``; errors are ``{"error": ...}`` bodies.

Both answer ``{"results": [{"statement_id", "series": [{"name", "columns", "values"}]}]}``.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from heapster.errors import PermanentError, RetryableError
from heapster.httpsession import LazySession
from heapster_sink_influxdb.admin import user_agent
from heapster_sink_influxdb.config import InfluxConfig

QUERY_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=10)


class CompatQuery:
    """Runs InfluxQL statements through one InfluxDB 2/3 server's ``/query`` endpoint."""

    def __init__(self, config: InfluxConfig) -> None:
        self.config = config
        self._url = f"{config.base_url}/query"
        self._headers = {"User-Agent": user_agent(), "Accept": "application/json"}
        if config.token:
            self._headers["Authorization"] = f"Token {config.token}"
        self._session = LazySession(self._new_session)

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=4, ssl=not self.config.insecure_ssl)
        return aiohttp.ClientSession(connector=connector, timeout=QUERY_TIMEOUT,
                                              headers=self._headers)

    async def run(self, statements: list[str]) -> list[dict[str, Any]]:
        """One result (``series`` ...) per statement, times as integer nanoseconds.

        :class:`RetryableError` when the server is unreachable or failing (5xx, 429),
        :class:`PermanentError` when it refuses the query (bad token, unknown bucket, bad InfluxQL).
        """
        if not statements:
            return []
        if self.config.api == "v2":
            return await self._request("; ".join(statements), len(statements))
        results: list[dict[str, Any]] = []
        for statement in statements:
            results.extend(await self._request(statement, 1))
        return results

    async def _request(self, query: str, expected: int) -> list[dict[str, Any]]:
        params = {"db": self.config.bucket, "epoch": "ns", "q": query}
        where = f"InfluxDB {self.config.api} query at {self.config.host}:{self.config.port}"
        try:
            async with self._session.get().get(self._url, params=params) as resp:
                status, text = resp.status, await resp.text(errors="replace")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RetryableError(f"{where} failed: {type(exc).__name__}: server unreachable") from None
        if status != 200:
            message = self.config.redact(f"{where} failed (HTTP {status}): {_error_text(text)}")
            if status >= 500 or status in (408, 429):
                raise RetryableError(message)
            raise PermanentError(message)
        try:
            results: list[dict[str, Any]] = json.loads(text)["results"]
        except (ValueError, KeyError, TypeError):
            raise PermanentError(f"{where}: unexpected answer {text[:200]!r}") from None
        for result in results:
            if "error" in result:
                raise PermanentError(self.config.redact(f"{where} failed: {result['error']}"))
        if len(results) != expected:
            raise PermanentError(f"{where}: {len(results)} results for {expected} statement(s)")
        return results

    async def close(self) -> None:
        await self._session.close()


def _error_text(body: str) -> str:
    """The message of an InfluxDB 2 (``{"code", "message"}``) or 3 (``{"error"}``) error body."""
    try:
        decoded = json.loads(body)
    except ValueError:
        return body.strip()[:500]
    if isinstance(decoded, dict):
        for key in ("message", "error"):
            if isinstance(decoded.get(key), str):
                return str(decoded[key])
    return body.strip()[:500]
