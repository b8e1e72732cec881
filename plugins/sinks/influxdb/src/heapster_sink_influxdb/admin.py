"""Database and retention-policy management and InfluxQL queries, on the ``influxdb`` client.

The client is synchronous (requests), so callers run these methods in threads; each thread gets
its own client because a requests session is not meant to be shared between threads.
"""

from __future__ import annotations

import threading
from typing import Any

import requests
import structlog
import urllib3
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError, InfluxDBServerError

from heapster import __version__ as heapster_version
from heapster.durations import parse_duration
from heapster.errors import PermanentError, RetryableError
from heapster_sink_influxdb.config import InfluxConfig

log = structlog.get_logger(__name__)

QUERY_TIMEOUT = 30.0


def user_agent() -> str:
    return f"heapster/{heapster_version}"


class InfluxAdmin:
    """Creates the database and retention policy, and runs queries, for one sink."""

    def __init__(self, config: InfluxConfig) -> None:
        self.config = config
        self._local = threading.local()
        self._clients: list[InfluxDBClient] = []
        self._lock = threading.Lock()
        if config.secure and config.insecure_ssl:
            # The user asked for it; one log line instead of a warning per request.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            log.warning("influxdb.tls.unverified", host=config.host, port=config.port)

    def _client(self) -> InfluxDBClient:
        client: InfluxDBClient | None = getattr(self._local, "client", None)
        if client is None:
            c = self.config
            client = InfluxDBClient(
                host=c.host, port=c.port, username=c.user, password=c.password, database=c.db,
                ssl=c.secure, verify_ssl=c.secure and not c.insecure_ssl, timeout=QUERY_TIMEOUT,
                retries=1, headers={"User-Agent": user_agent()})
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def ensure_database(self) -> None:
        """Create the database and make the retention policy exist with the configured duration.

        The policy becomes the database's default, so queries without a policy (Grafana's
        default) see the data. Raises :class:`RetryableError` when the server is unreachable.
        """
        c = self.config
        with self._errors("create database"):
            client = self._client()
            try:
                client.create_database(c.db)
                policies = client.get_list_retention_policies(c.db)
            except InfluxDBClientError as exc:
                if exc.code != 403:
                    raise
                # A user without admin rights may still write to an existing database.
                log.warning("influxdb.database.unmanaged", db=c.db, user=c.user, error=c.redact(_text(exc)),
                            note="not allowed to create the database or manage its retention policy")
                return
            current = next((p for p in policies if p.get("name") == c.rp), None)
            if current is None:
                client.create_retention_policy(c.rp, c.retention, 1, database=c.db, default=True)
                log.info("influxdb.retention_policy.created", db=c.db, rp=c.rp, duration=c.retention)
            elif (parse_duration(str(current.get("duration", "0s"))) != c.retention_seconds
                  or not current.get("default")):
                client.alter_retention_policy(c.rp, database=c.db, duration=c.retention, default=True)
                log.info("influxdb.retention_policy.altered", db=c.db, rp=c.rp, duration=c.retention,
                         previous=current.get("duration"))

    def query(self, statement: str) -> list[dict[str, Any]]:
        """Run InfluxQL against the sink's database; one result dict (``series`` ...) per statement.

        Times come back as integer nanoseconds. Raises :class:`RetryableError` when the server is
        unreachable or failing, :class:`PermanentError` when it rejects the query.
        """
        with self._errors("query"):
            answer = self._client().query(statement, database=self.config.db, epoch="ns", method="POST",
                                          raise_errors=False)
        results: list[dict[str, Any]] = [r.raw for r in (answer if isinstance(answer, list) else [answer])]
        for result in results:
            if "error" in result:
                raise PermanentError(self.config.redact(f"InfluxDB query failed: {result['error']}"))
        return results

    def ping(self) -> bool:
        """Whether the server answers ``/ping``."""
        try:
            self._client().ping()
        except (requests.RequestException, InfluxDBClientError, InfluxDBServerError):
            return False
        return True

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()

    def _errors(self, action: str) -> _ErrorMapper:
        return _ErrorMapper(self.config, action)


class _ErrorMapper:
    """Turns client exceptions into RetryableError / PermanentError with the password masked."""

    def __init__(self, config: InfluxConfig, action: str) -> None:
        self.config = config
        self.action = action

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        where = f"InfluxDB {self.action} at {self.config.host}:{self.config.port}"
        if isinstance(exc, requests.RequestException):
            raise RetryableError(self.config.redact(f"{where} failed: {type(exc).__name__}")) from None
        if isinstance(exc, InfluxDBServerError):
            raise RetryableError(self.config.redact(f"{where} failed: {_text(exc)}")) from None
        if isinstance(exc, InfluxDBClientError):
            raise PermanentError(self.config.redact(f"{where} failed ({exc.code}): {_text(exc)}")) from None


def _text(exc: Exception) -> str:
    content = getattr(exc, "content", None)
    if content is None and exc.args:
        content = exc.args[0]
    if isinstance(content, bytes):
        return content.decode(errors="replace").strip()
    return str(content if content is not None else exc).strip()
