"""The ``heapster`` daemon as a real subprocess, for end-to-end tests of sources and sinks."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HeapsterProcess:
    """``heapster ARGS`` with its HTTP API on a free loopback port and its log in a file."""

    def __init__(self, args: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None) -> None:
        self.port = _free_port()
        self.env = {**os.environ, **(env or {})}
        self.args = [*args, f"--heapster-port={self.port}", "--listen_ip=127.0.0.1"]
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HeapsterProcess:
        command = [str(Path(sys.executable).parent / "heapster"), *self.args]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=self.env)
        return self

    def stop(self, grace: float = 30.0) -> int:
        """SIGTERM (heapster flushes its sinks), SIGKILL after ``grace`` seconds; returns the exit status."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def get(self, path: str) -> Any:
        """GET a JSON route of the HTTP API."""
        with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as resp:
            return json.loads(resp.read())

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def wait_for(self, condition: Callable[[], Any], within: float, what: str) -> Any:
        """Poll ``condition`` every 100 ms until it returns something true; ``TimeoutError`` naming ``what``."""
        deadline = time.monotonic() + within
        while True:
            if self.process is not None and self.process.poll() is not None:
                msg = f"heapster exited with {self.process.returncode} while waiting for {what}: {self.log_tail()}"
                raise RuntimeError(msg)
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                msg = f"timed out after {within}s waiting for {what}; heapster log: {self.log_tail()}"
                raise TimeoutError(msg)
            time.sleep(0.1)


@contextlib.contextmanager
def heapster_process(args: Sequence[str], log_path: Path,
                     env: Mapping[str, str] | None = None) -> Iterator[HeapsterProcess]:
    """A started heapster (``env`` added to the environment) for the duration of the block, SIGTERM after it."""
    process = HeapsterProcess(args, log_path, env).start()
    try:
        yield process
    finally:
        process.stop()
