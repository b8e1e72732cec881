"""Starting and stopping the server processes tests run (influxd, Prometheus, carbon-cache, tansu, statsd, ...)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from heapster.testing.net import PATIENCE


def log_tail(path: Path, size: int = 2000) -> str:
    """The last ``size`` characters of a log file ("" when there is none)."""
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
        return True
    return False


def start_process(command: Sequence[str], log_path: Path, ready: Callable[[], bool], *, what: str,
                  timeout: float = PATIENCE, **popen: Any) -> subprocess.Popen[bytes]:
    """Start ``command`` (its output appended to ``log_path``) and return once ``ready()`` holds.

    RuntimeError with the log's tail when the process exits first or is not ready within ``timeout``
    seconds (it is then stopped). ``popen`` goes to ``subprocess.Popen`` (``cwd``, ...).
    """
    with log_path.open("ab") as log:
        process = subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   **popen)
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            msg = f"{what} exited with {process.returncode}: {log_tail(log_path)}"
            raise RuntimeError(msg)
        if time.monotonic() > deadline:
            stop_process(process)
            msg = f"{what} not ready within {timeout:g}s: {log_tail(log_path)}"
            raise RuntimeError(msg)
        time.sleep(0.05)
    return process


def stop_process(process: subprocess.Popen[Any], grace: float = 10.0) -> int:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; returns the exit code (at once if it had ended)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            return process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()
