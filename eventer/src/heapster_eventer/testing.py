"""Test helpers for the eventer: the eventer process, a recording proxy (the scripted source is core's,
:mod:`heapster.testing.events`)."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from heapster.testing.jsonlogs import json_log_records
from heapster.testing.net import PATIENCE, free_port, wait_until

__all__ = ["PATIENCE", "EventerProcess", "RecordingProxy", "rvs"]


def rvs(sink: Any) -> list[int]:
    """Every exported event's resourceVersion, in export order."""
    return [int(e["metadata"]["resourceVersion"]) for b in sink.batches for e in b.events]


# --- the eventer as a real subprocess ---------------------------------------------------------------


class EventerProcess:
    """``python -m heapster_eventer ARGS`` with JSON logs in a file and its HTTP server on a free port."""

    def __init__(self, args: list[str], log_path: Path, *, wrapper: Sequence[str] = (),
                 env: Mapping[str, str] | None = None) -> None:
        """``wrapper`` runs before the command (e.g. a namespace it execs into, keeping the PID); ``env``
        is added to the environment."""
        self.args = args
        self.log_path = log_path
        self.wrapper = list(wrapper)
        self.env = dict(env or {})
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_within: float = PATIENCE) -> EventerProcess:
        """Start it and wait until ``/healthz`` answers."""
        command = [*self.wrapper, sys.executable, "-m", "heapster_eventer", *self.args, "--healthz-ip=127.0.0.1",
                   f"--healthz-port={self.port}", "--log-format=json"]
        env = {**os.environ, **self.env} if self.env else None
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL,
                                            env=env)
        try:
            self.wait_for(lambda: self._healthz() is not None, ready_within, "the eventer's /healthz")
        except BaseException:
            self.kill()  # a start that timed out leaves no eventer running behind the test
            raise
        return self

    def _healthz(self) -> int | None:
        if self.process is not None and self.process.poll() is not None:
            msg = f"eventer exited with {self.process.returncode}: {self.log_tail()}"
            raise RuntimeError(msg)
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return None

    def stop(self, timeout: float = PATIENCE) -> int:
        """SIGTERM and wait for a clean exit; returns the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def kill(self) -> None:
        """SIGKILL: a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def logs(self, event: str | None = None) -> list[dict[str, Any]]:
        """Its JSON log lines (those named ``event`` only, if given)."""
        return json_log_records(self.log_path, event)

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-size:]
        except OSError:
            return ""

    def metrics(self) -> dict[str, float]:
        """``/metrics`` as ``{"name{labels}": value}``."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def wait_for(self, condition: Callable[[], Any], within: float, what: str) -> None:
        """Poll ``condition`` every 50 ms; ``TimeoutError`` naming ``what`` (with the log tail) after ``within`` s."""
        try:
            wait_until(condition, timeout=within, interval=0.05, what=what)
        except AssertionError as exc:
            raise TimeoutError(f"{exc}; eventer log: {self.log_tail()}") from None


# --- a recording proxy in front of a real server -----------------------------------------------------

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class RecordingProxy:
    """A forwarding HTTP proxy on a free loopback port that keeps every request body the server accepted.

    A sink pointed at ``proxy.url`` talks to the real server behind it; ``accepted(path)`` returns
    the (gunzipped) bodies of the requests to ``path`` answered with 2xx, in order, so a test can
    count every write, even those a server such as InfluxDB stores as one point. While :meth:`refuse` is
    on, it answers 503 and forwards nothing: the server is down for the sink, and what it stored is final.
    """

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self._lock = threading.Lock()
        self._accepted: list[tuple[str, bytes]] = []
        self._refusing = False
        self._forwarding = 0
        self._idle = threading.Condition(self._lock)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="recording-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def refuse(self, refusing: bool = True, within: float = 120.0) -> None:
        """From now on answer every request 503 without forwarding it (``False``: forward again).

        Returns once the requests forwarded before the call are answered (and recorded): from then on
        :meth:`accepted` only changes after ``refuse(False)``.
        """
        with self._idle:
            self._refusing = refusing
            if not self._idle.wait_for(lambda: self._forwarding == 0, within):
                raise TimeoutError(f"{self._forwarding} forwarded requests still unanswered after {within} s")

    def accepted(self, path: str) -> list[bytes]:
        """Bodies of the 2xx-answered requests to ``path`` (query string ignored), oldest first."""
        with self._lock:
            return [body for p, body in self._accepted if p == path]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy._lock:
                    refusing = proxy._refusing
                    if not refusing:
                        proxy._forwarding += 1
                if refusing:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                try:
                    self._relay(body)
                finally:
                    with proxy._idle:
                        proxy._forwarding -= 1
                        proxy._idle.notify_all()

            def _relay(self, body: bytes) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                request = urllib.request.Request(proxy.target + self.path, data=body or None, method=self.command,
                                                 headers=headers)
                try:
                    with urllib.request.urlopen(request, timeout=30) as resp:
                        status, reply, reply_headers = resp.status, resp.read(), resp.headers
                except urllib.error.HTTPError as exc:
                    status, reply, reply_headers = exc.code, exc.read(), exc.headers
                if 200 <= status < 300:
                    plain = gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body
                    with proxy._lock:
                        proxy._accepted.append((self.path.partition("?")[0], plain))
                self.send_response(status)
                for key, value in reply_headers.items():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        return Handler
