"""Loopback helpers for tests that run real servers: free ports and polling with a deadline."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, Self, TypeVar

T = TypeVar("T")

PATIENCE = 120.0
"""Deadline (s) of a test's wait for a process or a server, met within a second or two on an idle machine.

Generous on purpose: on a machine shared by many jobs (load 8 and more) a process start or an export took over
30 s. A wait polls its condition, so a passing test never waits the deadline out; only a failing one does.
"""


def free_port(kind: int = socket.SOCK_STREAM, preferred: int = 0) -> int:
    """A port nobody uses on 127.0.0.1 right now (``socket.SOCK_DGRAM`` for UDP); ``preferred`` if it is free.

    ``preferred`` is tried with SO_REUSEADDR, as heapster's server binds: a port held only by connections in
    TIME-WAIT (a previous run's, for a minute after it stopped) counts as free.
    """
    if preferred:
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, kind) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", preferred))
            return preferred
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Poll:
    """One wait: evaluates the condition, keeps its last result, fails once the deadline has passed."""

    def __init__(self, condition: Callable[[], Any], timeout: float, what: str) -> None:
        self.condition, self.timeout, self.what = condition, timeout, what
        self.deadline = time.monotonic() + timeout
        self.result: Any = None

    def done(self) -> bool:
        self.result = self.condition()
        if self.result:
            return True
        if time.monotonic() > self.deadline:
            raise AssertionError(f"timed out after {self.timeout}s waiting for {self.what or self.condition}")
        return False


def wait_until(condition: Callable[[], T], timeout: float = 20.0, interval: float = 0.1, what: str = "") -> T:
    """Poll ``condition`` until it returns something truthy and return that; AssertionError after ``timeout`` s."""
    poll = _Poll(condition, timeout, what)
    while not poll.done():
        time.sleep(interval)
    result: T = poll.result
    return result


async def async_wait_until(condition: Callable[[], T], timeout: float = 20.0, interval: float = 0.05,
                           what: str = "") -> T:
    """:func:`wait_until` for async tests (sleeps without blocking the loop)."""
    import asyncio

    poll = _Poll(condition, timeout, what)
    while not poll.done():  # noqa: ASYNC110 - polling a condition that no event signals
        await asyncio.sleep(interval)
    result: T = poll.result
    return result


async def async_poll_until(condition: Callable[[], Awaitable[object]], timeout: float = 20.0,
                           interval: float = 0.05, what: str = "") -> None:
    """:func:`async_wait_until` for a condition that is itself a coroutine (e.g. one that sends a request)."""
    import asyncio

    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        await asyncio.sleep(interval)


async def decoded_body(request: Any) -> bytes:
    """The body of an aiohttp request, gunzipped for ``Content-Encoding: gzip``.

    For doubles served with ``auto_decompress=False`` that check the encoding as the real server
    does: ValueError for a body that does not gunzip or an encoding other than gzip or identity.
    """
    import gzip
    import zlib

    body: bytes = await request.read()
    encoding = request.headers.get("Content-Encoding", "").lower()
    if encoding == "gzip":
        try:
            return gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"bad gzip body: {exc}") from None
    if encoding not in ("", "identity"):
        raise ValueError(f"unsupported content encoding {encoding!r}")
    return body


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


class AppServer:
    """An aiohttp application served on 127.0.0.1 by the running event loop; stoppable and restartable.

    ``make_app`` builds a fresh ``aiohttp.web.Application`` for every start (state to keep across
    restarts belongs to the caller). ``port=0`` takes a free port at the first start and keeps it, so
    :meth:`stop` then :meth:`start` is an outage of the same address. ``runner_options`` go to
    ``aiohttp.web.AppRunner`` (``auto_decompress=False`` for a double that checks gzip itself).
    For strict test doubles of HTTP services.
    """

    def __init__(self, make_app: Callable[[], Any], port: int = 0, **runner_options: Any) -> None:
        self.make_app = make_app
        self.port = port
        self.runner_options = {"access_log": None, **runner_options}
        self._runner: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> str:
        """Serve (a no-op when serving); returns :attr:`url`."""
        from aiohttp import web

        if self._runner is None:
            runner = web.AppRunner(self.make_app(), **self.runner_options)
            await runner.setup()
            try:
                await web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start()
            except BaseException:
                await runner.cleanup()
                raise
            self.port = int(runner.addresses[0][1])
            self._runner = runner
        return self.url

    async def stop(self) -> None:
        """Stop serving: connections are refused until :meth:`start`."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


class ServerThread:
    """A server that runs on an event loop (``port``, ``running``, ``async start()``, ``async stop()``: an
    :class:`AppServer` or a :class:`TcpServer`), driven from synchronous code through its own loop thread.

    :meth:`stop` / :meth:`start` are an outage of the same address; :meth:`close` (or leaving the
    ``with`` block) also ends the thread. Strict doubles subclass :class:`HttpServerThread` or
    :class:`TcpServerThread`, or hold one.
    """

    def __init__(self, server: Any, *, name: str) -> None:
        self._served = server
        self._loop_thread = LoopThread(name)

    @property
    def port(self) -> int:
        port: int = self._served.port
        return port

    @property
    def running(self) -> bool:
        running: bool = self._served.running
        return running

    def start(self) -> Self:
        """Serve until :meth:`stop`; returns this server."""
        self._loop_thread.run(self._served.start())
        return self

    def stop(self) -> None:
        """Stop serving (connections refused); :meth:`start` serves again on the same port."""
        self._loop_thread.run(self._served.stop())

    def close(self) -> None:
        """Stop serving and end the thread."""
        self.stop()
        self._loop_thread.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class HttpServerThread(ServerThread):
    """An :class:`AppServer` in its own loop thread, on a port chosen at construction (``port=0``: a free
    one), so :attr:`url` is known before :meth:`start`."""

    def __init__(self, make_app: Callable[[], Any], port: int = 0, *, name: str = "http-double",
                 **runner_options: Any) -> None:
        super().__init__(AppServer(make_app, port or free_port(), **runner_options), name=name)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class TcpServer:
    """An asyncio stream server on 127.0.0.1, served by the running event loop; stoppable and restartable.

    ``handle(reader, writer)`` serves one connection (the writer is closed after it). ``port=0``
    takes a free port at the first start and keeps it. :meth:`stop` closes the listener and, with
    ``cut_connections``, every open connection, as a server that goes away does.
    """

    def __init__(self, handle: Callable[[Any, Any], Any], port: int = 0, *, cut_connections: bool = True) -> None:
        self.handle = handle
        self.port = port
        self.cut_connections = cut_connections
        self._listener: Any = None
        self._connections: set[Any] = set()

    @property
    def running(self) -> bool:
        return self._listener is not None

    async def start(self) -> None:
        """Listen (a no-op when listening)."""
        import asyncio

        if self._listener is None:
            self._listener = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
            self.port = int(self._listener.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening (and cut the open connections)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
            if self.cut_connections:
                for writer in list(self._connections):
                    writer.transport.abort()
            await listener.wait_closed()

    async def _serve(self, reader: Any, writer: Any) -> None:
        self._connections.add(writer)
        try:
            await self.handle(reader, writer)
        finally:
            self._connections.discard(writer)
            writer.close()


class TcpServerThread(ServerThread):
    """A :class:`TcpServer` in its own loop thread, on a port chosen at construction (``port=0``: a free one)."""

    def __init__(self, handle: Callable[[Any, Any], Any], port: int = 0, *, name: str = "tcp-double",
                 cut_connections: bool = True) -> None:
        super().__init__(TcpServer(handle, port or free_port(), cut_connections=cut_connections), name=name)


class TcpProxy:
    """A loopback TCP proxy in front of a server: an outage of a server the test cannot restart, or a
    look at the wire (``sent`` counts the bytes clients sent through it).

    :meth:`stop` closes the listener and every open connection; :meth:`start` listens again on the
    same port. Runs on the test's event loop (``async with TcpProxy(url) as proxy``).
    """

    def __init__(self, target_url: str) -> None:
        host, _, port = target_url.removeprefix("http://").partition(":")
        self.target = (host, int(port.rstrip("/")))
        self.sent = 0
        self._server = TcpServer(self._pipe)

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> str:
        """Listen (the same port after a :meth:`stop`); returns :attr:`url`."""
        await self._server.start()
        return self.url

    async def stop(self) -> None:
        """Close the listener and cut every connection through the proxy."""
        await self._server.stop()

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _pipe(self, reader: Any, writer: Any) -> None:
        import asyncio

        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            return

        async def pipe(src: Any, dst: Any, upstream: bool) -> None:
            try:
                while data := await src.read(65536):
                    if upstream:
                        self.sent += len(data)
                    dst.write(data)
                    await dst.drain()
            except (OSError, RuntimeError):
                pass
            finally:
                dst.close()

        try:
            await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))
        finally:
            up_writer.close()
