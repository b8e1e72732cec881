"""Loopback helpers for tests that run real servers: free ports and polling with a deadline."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nobody uses on 127.0.0.1 right now (``socket.SOCK_DGRAM`` for UDP)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], T], timeout: float = 20.0, interval: float = 0.1, what: str = "") -> T:
    """Poll ``condition`` until it returns something truthy and return that; AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


async def async_wait_until(condition: Callable[[], T], timeout: float = 20.0, interval: float = 0.05,
                           what: str = "") -> T:
    """:func:`wait_until` for async tests (sleeps without blocking the loop)."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        await asyncio.sleep(interval)


class LoopThread:
    """An asyncio event loop in a daemon thread: synchronous tests start servers on it and run coroutines."""

    def __init__(self, name: str = "test-loop") -> None:
        import asyncio
        import threading

        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name=name)
        self._thread.start()

    def run(self, coroutine: Any, timeout: float = 30.0) -> Any:
        """Run ``coroutine`` on the loop and return its result."""
        import asyncio

        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop and end the thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()


class HttpServerThread:
    """An aiohttp application on a fixed loopback port, in its own loop thread, stoppable and restartable.

    ``make_app`` builds a fresh ``aiohttp.web.Application`` for every start (state to keep across
    restarts belongs to the caller). For strict test doubles of HTTP services.
    """

    def __init__(self, make_app: Callable[[], Any], port: int = 0) -> None:
        self.make_app = make_app
        self.port = port or free_port()
        self._loop = LoopThread()
        self._runner: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    def start(self) -> None:
        from aiohttp import web

        async def start() -> Any:
            runner = web.AppRunner(self.make_app(), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start()
            return runner

        if self._runner is None:
            self._runner = self._loop.run(start())

    def stop(self) -> None:
        if self._runner is not None:
            self._loop.run(self._runner.cleanup())
            self._runner = None

    def close(self) -> None:
        self.stop()
        self._loop.close()
