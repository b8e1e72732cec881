"""A minimal HTTP/1.1 server on bare asyncio streams: GET/HEAD routes for the eventer's probe port.

aiohttp (with yarl, multidict, attrs, ...) costs ~13 MiB of RSS to import; the eventer serves its five probe
routes with this instead. Heapster's own HTTP API (dozens of routes, TLS options, middleware) stays on aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from heapster.http1.head import HEAD_LIMIT, ProtocolError, parse_header_lines

DEFAULT_IDLE_TIMEOUT = 60.0
"""Seconds a keep-alive connection may stay idle (``--api_idle_timeout``); aiohttp's default is an hour."""
DEFAULT_HEADER_TIMEOUT = 10.0
"""Seconds a new connection has to send a complete request head (``--api_header_timeout``)."""


async def _read_head(reader: asyncio.StreamReader) -> list[bytes]:
    """The request line and header lines of a request (without the blank line)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        msg = "message head too long"
        raise ProtocolError(msg) from None
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise EOFError from None
        msg = "connection closed inside the message head"
        raise ProtocolError(msg) from None
    return head[:-4].split(b"\r\n")


@dataclass(frozen=True)
class Request:
    """What a handler sees: the method, the path and the decoded query."""

    method: str
    path: str
    query: dict[str, list[str]]


@dataclass(frozen=True)
class Reply:
    """A handler's answer."""

    status: int
    body: bytes | str
    content_type: str = "text/plain; charset=utf-8"


Handler = Callable[[Request], Awaitable[Reply]]

REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
           500: "Internal Server Error", 503: "Service Unavailable"}


class Server:
    """Serves GET/HEAD routes (exact paths) with keep-alive, a first-request and an idle deadline."""

    def __init__(self, routes: Mapping[str, Handler], *, header_timeout: float = DEFAULT_HEADER_TIMEOUT,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> None:
        self.routes = dict(routes)
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.addresses: list[tuple[str, int]] = []
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str | None, port: int) -> None:
        """Listen on ``host``:``port`` (all interfaces when ``host`` is empty; port 0 picks one)."""
        self._server = await asyncio.start_server(self._connection, host or None, port, limit=HEAD_LIMIT)
        self.addresses = [sock.getsockname()[:2] for sock in self._server.sockets]

    async def cleanup(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            timeout = self.header_timeout
            while True:
                try:
                    async with asyncio.timeout(timeout):
                        head = await _read_head(reader)
                except (TimeoutError, EOFError):
                    return
                keep = await self._answer(head, reader, writer)
                await writer.drain()
                if not keep:
                    return
                timeout = self.idle_timeout
        except (ProtocolError, ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, head: list[bytes], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Write the response to one request; whether the connection stays open."""
        parts = head[0].decode("latin-1").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._write(writer, Reply(400, "bad request line\n"), head_only=False, keep=False)
            return False
        method, target, version = parts
        headers = parse_header_lines(head[1:])
        length = int(headers.get(b"content-length") or 0)
        if length:
            await reader.readexactly(length)  # bodies are not used; reading one keeps the stream in step
        connection = headers.get(b"connection", b"").decode("latin-1").lower()
        keep = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
        url = urlsplit(target)
        handler = self.routes.get(url.path)
        if method not in ("GET", "HEAD"):
            reply = Reply(405, "method not allowed\n")
        elif handler is None:
            reply = Reply(404, "404: Not Found")
        else:
            reply = await handler(Request(method, url.path, parse_qs(url.query, keep_blank_values=True)))
        self._write(writer, reply, head_only=method == "HEAD", keep=keep)
        return keep

    @staticmethod
    def _write(writer: asyncio.StreamWriter, reply: Reply, *, head_only: bool, keep: bool) -> None:
        body = reply.body.encode() if isinstance(reply.body, str) else reply.body
        head = (f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Unknown')}\r\n"
                f"Content-Type: {reply.content_type}\r\nContent-Length: {len(body)}\r\n"
                f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n")
        writer.write(head.encode("latin-1") + (b"" if head_only else body))
