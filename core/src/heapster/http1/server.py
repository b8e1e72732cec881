"""A minimal HTTP/1.1 client and server on bare asyncio streams, for paths that must stay light.

aiohttp (with yarl, multidict, attrs, ...) costs ~13 MiB of RSS to import. The eventer needs HTTP only
for the Kubernetes list+watch (GET, one request per connection, chunked or sized bodies) and for its
five probe routes; this module does exactly that and nothing more, so the eventer runs without aiohttp.
Heapster's own HTTP API (dozens of routes, TLS options, middleware) stays on aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

MAX_HEAD = 64 * 1024
"""Bytes a status line or request line plus headers may take."""
READ_SIZE = 64 * 1024
DEFAULT_IDLE_TIMEOUT = 60.0
"""Seconds a keep-alive connection may stay idle (``--api_idle_timeout``); aiohttp's default is an hour."""
DEFAULT_HEADER_TIMEOUT = 10.0
"""Seconds a new connection has to send a complete request head (``--api_header_timeout``)."""


class ProtocolError(Exception):
    """The peer sent something that is not HTTP/1.1 as this module reads it."""


async def _read_head(reader: asyncio.StreamReader) -> list[str]:
    """The start line and header lines of a message (without the blank line)."""
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
    return head[:-4].decode("latin-1").split("\r\n")


def _headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            msg = f"bad header line {line[:80]!r}"
            raise ProtocolError(msg)
        headers[name.strip().lower()] = value.strip()
    return headers


# --- client -------------------------------------------------------------------------------------------


@dataclass
class Response:
    """A response whose body is read with :meth:`read` or :meth:`chunks`; close it (or use ``async with``)."""

    status: int
    reason: str
    headers: dict[str, str]
    _reader: asyncio.StreamReader = field(repr=False)
    _writer: asyncio.StreamWriter = field(repr=False)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (chunked, sized, or up to the end of the connection)."""
        reader = self._reader
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            while True:
                size_line = await reader.readuntil(b"\r\n")
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    msg = "bad chunk size"
                    raise ProtocolError(msg) from None
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                        pass
                    return
                while size > 0:
                    data = await reader.read(min(size, READ_SIZE))
                    if not data:
                        msg = "connection closed inside a chunk"
                        raise ProtocolError(msg)
                    size -= len(data)
                    yield data
                await reader.readexactly(2)
        elif "content-length" in self.headers:
            left = int(self.headers["content-length"])
            while left > 0:
                data = await reader.read(min(left, READ_SIZE))
                if not data:
                    msg = "connection closed inside the body"
                    raise ProtocolError(msg)
                left -= len(data)
                yield data
        else:
            while data := await reader.read(READ_SIZE):
                yield data

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body, or its first ``limit`` bytes."""
        parts: list[bytes] = []
        size = 0
        async for data in self.chunks():
            parts.append(data)
            size += len(data)
            if limit is not None and size >= limit:
                break
        body = b"".join(parts)
        return body if limit is None else body[:limit]

    def close(self) -> None:
        self._writer.close()

    async def __aenter__(self) -> Response:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


async def get(url: str, *, params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None,
              tls: ssl.SSLContext | None = None, connect_timeout: float = 10.0) -> Response:
    """``GET url`` on a connection of its own (closed with the response); ``tls`` for https URLs."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    target = parts.path or "/"
    query = "&".join(q for q in (parts.query, urlencode(params or {})) if q)
    if query:
        target += "?" + query
    context = (tls or ssl.create_default_context()) if https else None
    try:
        async with asyncio.timeout(connect_timeout):
            reader, writer = await asyncio.open_connection(host, port, ssl=context,
                                                           server_hostname=host if context else None, limit=MAX_HEAD)
    except ssl.SSLCertVerificationError as exc:
        msg = f"cannot connect to {host}:{port}: certificate verification failed: {exc.verify_message}"
        raise ConnectionError(msg) from None
    except OSError as exc:
        msg = f"cannot connect to {host}:{port}: {(exc.strerror or str(exc) or type(exc).__name__).strip()}"
        raise ConnectionError(msg) from None
    try:
        lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc.rpartition('@')[2]}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        lines += ["Accept-Encoding: identity", "Connection: close", "", ""]
        writer.write("\r\n".join(lines).encode("latin-1"))
        while True:
            head = await _read_head(reader)
            version, _, rest = head[0].partition(" ")
            code, _, reason = rest.partition(" ")
            if not version.startswith("HTTP/1.") or not code.isdigit():
                msg = f"bad status line {head[0][:80]!r}"
                raise ProtocolError(msg)
            if int(code) != 100:
                return Response(int(code), reason, _headers(head[1:]), reader, writer)
    except EOFError:
        writer.close()
        msg = "connection closed before a response"
        raise ProtocolError(msg) from None
    except BaseException:
        writer.close()
        raise


# --- server -------------------------------------------------------------------------------------------


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
        self._server = await asyncio.start_server(self._connection, host or None, port, limit=MAX_HEAD)
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

    async def _answer(self, head: list[str], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Write the response to one request; whether the connection stays open."""
        parts = head[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._write(writer, Reply(400, "bad request line\n"), head_only=False, keep=False)
            return False
        method, target, version = parts
        headers = _headers(head[1:])
        length = int(headers.get("content-length") or 0)
        if length:
            await reader.readexactly(length)  # bodies are not used; reading one keeps the stream in step
        connection = headers.get("connection", "").lower()
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
