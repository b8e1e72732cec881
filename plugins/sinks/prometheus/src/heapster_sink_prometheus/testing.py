"""Start a real Prometheus server (Debian's ``prometheus``) on loopback in a temporary directory, for tests.

    with prometheus_server(scrape_targets=["127.0.0.1:9102"]) as server:
        server.wait_for('heapster_uptime_milliseconds_total{pod_name="web-1"}')
        server.query("...", at=timestamp)

It scrapes the given targets every ``scrape_interval`` under ``job="heapster"`` and accepts remote
write on ``server.remote_write_url`` (``--web.enable-remote-write-receiver``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from heapster.testing.net import PATIENCE, free_port
from heapster.testing.processes import log_tail, start_process, stop_process

PROMETHEUS = os.environ.get("HEAPSTER_TEST_PROMETHEUS", "/usr/bin/prometheus")
START_TIMEOUT = PATIENCE


class PrometheusServer:
    """A Prometheus process on a fixed loopback port; :meth:`query` runs PromQL through its HTTP API.

    :meth:`stop` and :meth:`start` simulate an outage: the port and the TSDB survive a restart.
    """

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def remote_write_url(self) -> str:
        return f"{self.url}/api/v1/write"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the process and wait until ``/-/ready`` answers."""
        command = [PROMETHEUS, f"--config.file={self.root / 'prometheus.yml'}",
                   f"--storage.tsdb.path={self.root / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                   "--web.enable-remote-write-receiver", "--log.level=warn", "--storage.tsdb.retention.time=1d"]
        self.process = start_process(command, self.root / "prometheus.log", self._ready, what="prometheus",
                                     timeout=START_TIMEOUT, cwd=self.root)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after 10 s)."""
        process, self.process = self.process, None
        if process is not None:
            stop_process(process)

    def api(self, path: str, **params: str) -> Any:
        """GET an API path; the ``data`` of a successful answer."""
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as resp:
                answer = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"Prometheus answered {exc.code} to {params}: {exc.read().decode()}") from None
        if answer.get("status") != "success":
            raise AssertionError(f"Prometheus answered {answer}")
        return answer["data"]

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant-query result vector: ``[{"metric": {...}, "value": [t, "v"]}, ...]``."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.api("/api/v1/query", **params)
        return list(data["result"])

    def wait_for(self, promql: str, at: float | None = None, timeout: float = 30.0,
                 until: Callable[[list[dict[str, Any]]], bool] = bool) -> list[dict[str, Any]]:
        """Poll ``promql`` until ``until(result)`` holds; AssertionError (with the log) at the deadline."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            if not self.running:
                raise AssertionError(f"prometheus is not running: {self.log()}")
            result = self.query(promql, at)
            if until(result):
                return result
            time.sleep(0.2)
        raise AssertionError(f"{promql!r} gave {result!r} after {timeout} s; log: {self.log()}")

    def targets(self) -> list[dict[str, Any]]:
        return list(self.api("/api/v1/targets")["activeTargets"])

    def log(self) -> str:
        return log_tail(self.root / "prometheus.log", 3000)


def _config(targets: Sequence[str], scrape_interval: str) -> str:
    lines = ["global:", f"  scrape_interval: {scrape_interval}", f"  scrape_timeout: {scrape_interval}",
             "scrape_configs:", "  - job_name: heapster", "    honor_timestamps: true",
             "    static_configs:", "      - targets: [" + ", ".join(f'"{t}"' for t in targets) + "]"]
    return "\n".join(lines) + "\n"


@contextmanager
def prometheus_server(scrape_targets: Sequence[str] = (), scrape_interval: str = "1s") -> Iterator[PrometheusServer]:
    """Run Prometheus with a fresh TSDB until the block ends."""
    if not Path(PROMETHEUS).exists():
        raise RuntimeError(f"{PROMETHEUS} not found: install Debian's 'prometheus' package (./dev setup does)")
    root = Path(tempfile.mkdtemp(prefix="heapster-prometheus-"))
    (root / "prometheus.yml").write_text(_config(scrape_targets, scrape_interval))
    server = PrometheusServer(root, free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
