"""Start a real ``influxd`` (InfluxDB 1.x) on loopback in a temporary directory, for tests.

Usage in a ``conftest.py``::

    @pytest.fixture(scope="session")
    def influxd():
        with influxd_server() as server:
            yield server

``server.url`` is the HTTP base URL; ``server.stop()`` / ``server.start()`` simulate an outage
(the ports and data survive a restart). ``influxd_server(tls=True)`` serves HTTPS with a
self-signed certificate; ``influxd_server(auth=True)`` requires users, with an admin
``server.admin_user`` / ``server.admin_password`` that :meth:`InfluxServer.query` uses.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from heapster.testing.net import PATIENCE, free_port
from heapster.testing.processes import log_tail, start_process, stop_process

Point = tuple[str, frozenset[tuple[str, str]], str, Any, int]
"""``(measurement, tags, field, value, time_ns)``: one stored field value."""

INFLUXD = os.environ.get("HEAPSTER_TEST_INFLUXD", "/usr/bin/influxd")
START_TIMEOUT = PATIENCE

_CONFIG = """\
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{root}/meta"
  retention-autocreate = true
  logging-enabled = false

[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false
  index-version = "inmem"

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = {auth}
  log-enabled = false
  pprof-enabled = false
  https-enabled = {tls}
  https-certificate = "{root}/cert.pem"
  https-private-key = "{root}/key.pem"

[logging]
  level = "warn"
  suppress-logo = true

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false
"""


class InfluxServer:
    """One ``influxd`` process with its own config, data directory and ports."""

    def __init__(self, root: Path, *, tls: bool = False, auth: bool = False) -> None:
        self.root = root
        self.tls = tls
        self.auth = auth
        self.admin_user = "admin"
        self.admin_password = "admin-pw-for-tests"
        self.http_port = free_port()
        self.rpc_port = free_port()
        self.config_path = root / "influxdb.conf"
        self.log_path = root / "influxd.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._admin_created = False
        self._ssl = ssl.create_default_context()
        self._ssl.check_hostname = False
        self._ssl.verify_mode = ssl.CERT_NONE

    @property
    def url(self) -> str:
        """Base URL of the HTTP API, e.g. ``http://127.0.0.1:41234``."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.http_port}"

    @property
    def hostport(self) -> str:
        """``127.0.0.1:<port>``, as a sink URI takes it."""
        return f"127.0.0.1:{self.http_port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running influxd."""
        return self._process.pid if self.running and self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Write the config and start influxd; returns once ``/ping`` answers."""
        if self.running:
            return
        if self.tls and not (self.root / "cert.pem").exists():
            self._make_certificate()
        self.config_path.write_text(_CONFIG.format(
            root=self.root, http_port=self.http_port, rpc_port=self.rpc_port,
            auth=str(self.auth).lower(), tls=str(self.tls).lower()))
        self._process = start_process([INFLUXD, "-config", str(self.config_path)], self.log_path, self.ping,
                                      what="influxd", timeout=START_TIMEOUT)
        if self.auth and not self._admin_created:
            # Allowed without credentials while the server has no user yet.
            self.query(f"CREATE USER {self.admin_user} WITH PASSWORD '{self.admin_password}' WITH ALL PRIVILEGES")
            self._admin_created = True

    def _make_certificate(self) -> None:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(self.root / "key.pem"),
             "-out", str(self.root / "cert.pem")],
            check=True, capture_output=True, timeout=60)

    def _open(self, request: urllib.request.Request | str, timeout: float) -> Any:
        return urllib.request.urlopen(request, timeout=timeout, context=self._ssl if self.tls else None)

    def ping(self) -> bool:
        """Whether ``/ping`` answers 204."""
        try:
            with self._open(f"{self.url}/ping", timeout=1) as resp:
                return bool(resp.status == 204)
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        """Stop influxd (SIGTERM, then SIGKILL after 10 s) and wait for it to exit."""
        process, self._process = self._process, None
        if process is not None:
            stop_process(process)

    def query(self, statement: str, db: str = "") -> list[dict[str, Any]]:
        """Run InfluxQL; one result dict per statement, times as integer nanoseconds."""
        params = urllib.parse.urlencode({"q": statement, "db": db, "epoch": "ns"})
        request = urllib.request.Request(f"{self.url}/query?{params}", method="POST")
        if self._admin_created:
            token = base64.b64encode(f"{self.admin_user}:{self.admin_password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with self._open(request, timeout=30) as resp:
            results: list[dict[str, Any]] = json.load(resp)["results"]
        for result in results:
            if "error" in result:
                msg = f"query {statement!r} failed: {result['error']}"
                raise RuntimeError(msg)
        return results

    def points(self, db: str) -> set[Point]:
        """Every stored field value of a database, with its series' tags."""
        names = [row[0] for s in self.query("SHOW MEASUREMENTS", db)[0].get("series", []) for row in s["values"]]
        points: set[Point] = set()
        for name in names:
            quoted = name.replace("\\", "\\\\").replace('"', '\\"')
            for series in self.query(f'SELECT * FROM "{quoted}" GROUP BY *', db)[0].get("series", []):
                tags = frozenset((k, v) for k, v in series.get("tags", {}).items() if v)
                for row in series["values"]:
                    for column, value in zip(series["columns"][1:], row[1:], strict=True):
                        if value is not None:
                            points.add((name, tags, column, value, row[0]))
        return points

    def field_types(self, db: str) -> dict[tuple[str, str], str]:
        """``(measurement, field) -> integer|float|string|boolean`` as stored."""
        series = self.query("SHOW FIELD KEYS", db)[0].get("series", [])
        return {(s["name"], field): kind for s in series for field, kind in s["values"]}

    def kill(self) -> None:
        """Kill influxd with SIGKILL (a crash); :meth:`start` brings it back with its data."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def log_tail(self, size: int = 2000) -> str:
        return log_tail(self.log_path, size)


@contextmanager
def influxd_server(root: Path | None = None, *, tls: bool = False, auth: bool = False) -> Iterator[InfluxServer]:
    """A running :class:`InfluxServer` in ``root`` (a fresh temporary directory by default)."""
    owned = root is None
    base = Path(tempfile.mkdtemp(prefix="influxd-")) if root is None else root
    server = InfluxServer(base, tls=tls, auth=auth)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if owned:
            shutil.rmtree(base, ignore_errors=True)
