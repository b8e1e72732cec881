"""Start a real ``influxd`` (InfluxDB 1.x) on loopback in a temporary directory, for tests.

Usage in a ``conftest.py``::

    @pytest.fixture(scope="session")
    def influxd():
        with influxd_server() as server:
            yield server

``server.url`` is the HTTP base URL; ``server.stop()`` / ``server.start()`` simulate an outage
(the ports and data survive a restart).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

Point = tuple[str, frozenset[tuple[str, str]], str, Any, int]
"""``(measurement, tags, field, value, time_ns)``: one stored field value."""

INFLUXD = os.environ.get("HEAPSTER_TEST_INFLUXD", "/usr/bin/influxd")
START_TIMEOUT = 20.0

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
  auth-enabled = false
  log-enabled = false
  pprof-enabled = false

[logging]
  level = "warn"
  suppress-logo = true

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class InfluxServer:
    """One ``influxd`` process with its own config, data directory and ports."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.http_port = free_port()
        self.rpc_port = free_port()
        self.config_path = root / "influxdb.conf"
        self.log_path = root / "influxd.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the HTTP API, e.g. ``http://127.0.0.1:41234``."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def hostport(self) -> str:
        """``127.0.0.1:<port>``, as a sink URI takes it."""
        return f"127.0.0.1:{self.http_port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Write the config and start influxd; returns once ``/ping`` answers."""
        if self.running:
            return
        self.config_path.write_text(
            _CONFIG.format(root=self.root, http_port=self.http_port, rpc_port=self.rpc_port))
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [INFLUXD, "-config", str(self.config_path)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        delay = 0.01
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                msg = f"influxd exited with {self._process.returncode}: {self.log_tail()}"
                raise RuntimeError(msg)
            if self.ping():
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        self.stop()
        msg = f"influxd did not answer /ping within {START_TIMEOUT}s: {self.log_tail()}"
        raise RuntimeError(msg)

    def ping(self) -> bool:
        """Whether ``/ping`` answers 204."""
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as resp:
                return bool(resp.status == 204)
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        """Stop influxd (SIGTERM, then SIGKILL after 10 s) and wait for it to exit."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def query(self, statement: str, db: str = "") -> list[dict[str, Any]]:
        """Run InfluxQL; one result dict per statement, times as integer nanoseconds."""
        params = urllib.parse.urlencode({"q": statement, "db": db, "epoch": "ns"})
        request = urllib.request.Request(f"{self.url}/query?{params}", method="POST")
        with urllib.request.urlopen(request, timeout=30) as resp:
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

    def log_tail(self, size: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""


@contextmanager
def influxd_server(root: Path | None = None) -> Iterator[InfluxServer]:
    """A running :class:`InfluxServer` in ``root`` (a fresh temporary directory by default)."""
    owned = root is None
    base = Path(tempfile.mkdtemp(prefix="influxd-")) if root is None else root
    server = InfluxServer(base)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if owned:
            shutil.rmtree(base, ignore_errors=True)
