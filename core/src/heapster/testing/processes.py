"""Stopping the server processes tests start (influxd, Prometheus, carbon-cache, heapster, ...)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import Any


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
