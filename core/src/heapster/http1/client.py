"""The HTTP/1.1 GET client of heapster and the eventer: kubelet summaries, API lists and watches.

Connections are kept alive per origin (checked with ``poll()`` before reuse, a stale one retried once on a
new connection, idle ones swept), TLS sessions resumed. Sockets are non-blocking, TLS is the ``ssl`` module's
socket (OpenSSL in C, not asyncio's pure-Python ``sslproto``; reading each socket ahead in large steps, not a
record's header and body apart: :mod:`.readahead`), and the running event loop only says when a socket is
readable: one callback per readiness drains every TLS record that arrived, straight into one buffer
the size of the declared body (or of the chunk being read: a Go kubelet sends its summary as one chunk), which
the caller gets as the body, uncopied. There is no transport, protocol or stream reader per request (measured in
``bench/kubelet_client_bench.py``). Bodies with ``Content-Length``, chunked bodies (a Go kubelet's, a watch)
and bodies up to the end of the connection are read, gzip/deflate ones decompressed, all under a size cap.
:meth:`Client.get` reads a whole body; :meth:`Client.open` streams one (a watch) through :class:`Response`.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from heapster.http1.head import HEAD_LIMIT, ProtocolError, parse_header_lines
from heapster.http1.readahead import READ_AHEAD_BUFFER
from heapster.http1.readahead import read_ahead as _read_ahead

KEEPALIVE_SECONDS = 90.0
"""An idle connection older than this is closed instead of reused."""
READ_SIZE = 32 * 1024
"""Bytes read at once while the body's size is not known (two TLS records)."""
ERROR_BODY = 512
"""Bytes of a non-200 answer's body kept for the error message."""
CHUNK_LINE_LIMIT = 4096
"""Most bytes of one chunk-size line (with extensions) of a chunked body."""
SPARE_BODIES = 8
"""Body buffers a client keeps for its next answers once their readers gave them back (:meth:`Client.recycle`)."""
SPARE_BODY_MAX = 2 * 1024 * 1024
"""Larger bodies are not kept (at most :data:`SPARE_BODIES` x this many bytes held between answers)."""

_HEAD_END = b"\r\n\r\n"
_WOULD_BLOCK: tuple[type[OSError], ...] = (BlockingIOError, InterruptedError)
"""A non-blocking read that must wait; :func:`_know_tls` adds ``ssl``'s want-read."""
_WANT_READ: tuple[type[OSError], ...] = ()
"""A TLS socket that must read first (set by :func:`_know_tls`)."""
_WANT_WRITE: tuple[type[OSError], ...] = ()
"""A TLS socket that must write first (a key update; set by :func:`_know_tls`)."""
_CERT_FAILED: tuple[type[ssl.SSLCertVerificationError], ...] = ()
"""A TLS handshake whose certificate check failed (set by :func:`_know_tls`)."""


def _know_tls() -> None:
    """Catch ``ssl``'s errors from now on: only a client with a TLS context makes TLS sockets.

    Until then no name of the ``ssl`` module is read, so a process that speaks no TLS and imports it
    lazily (the eventer, :mod:`heapster_eventer.lazyssl`) never loads OpenSSL.
    """
    global _WOULD_BLOCK, _WANT_READ, _WANT_WRITE, _CERT_FAILED
    _WOULD_BLOCK = (ssl.SSLWantReadError, BlockingIOError, InterruptedError)
    _WANT_READ = (ssl.SSLWantReadError,)
    _WANT_WRITE = (ssl.SSLWantWriteError,)
    _CERT_FAILED = (ssl.SSLCertVerificationError,)


class FetchError(Exception):
    """A GET failed; ``reason`` is ``connect``, ``malformed`` or ``too_large``.

    ``too_large``: a whole body (:meth:`Client.get`), or the part of a streamed body not yet consumed
    (:meth:`Client.open`), passed the client's ``max_bytes``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class _StaleConnection(Exception):
    """A reused connection was closed by the server before any byte of the answer (worth one retry)."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where requests go: scheme, host (name or IP literal, no brackets) and port."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of_url(cls, url: str) -> Origin:
        """The origin of an ``http`` or ``https`` URL."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        return cls(parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


def get_request(url: str, *, params: Mapping[str, str] | None = None,
                headers: Mapping[str, str] | None = None) -> bytes:
    """The bytes of ``GET url`` (``params`` appended to its query) with ``headers``, for :class:`Client`."""
    parts = urlsplit(url)
    target = parts.path or "/"
    query = "&".join(q for q in (parts.query, urlencode(params or {})) if q)
    if query:
        target += "?" + query
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc.rpartition('@')[2]}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(slots=True)
class Answer:
    """A response: the status and the body (only the first :data:`ERROR_BODY` bytes when the status is not 200).

    The body is the buffer the answer was received into (a ``bytearray``; decoders such as msgspec and
    orjson read it as they read bytes), or the decompressed ``bytes``: never a copy made only to be ``bytes``.
    """

    status: int
    body: bytes | bytearray


class _Connection:
    __slots__ = ("fd", "fresh", "idle_since", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.idle_since = 0.0
        self.fresh = True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _parse_head(head: bytes) -> tuple[int, bool, dict[bytes, bytes]]:
    """``(status, http/1.1, lower-cased headers)`` of a response head, or :class:`FetchError`."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3 or not parts[1].isdigit():
        raise FetchError("malformed", f"bad status line {lines[0][:100]!r}")
    try:
        headers = parse_header_lines(lines[1:])
    except ProtocolError as exc:
        raise FetchError("malformed", str(exc)) from None
    return int(parts[1]), parts[0] == b"HTTP/1.1", headers


class _Exchange:
    """Reads one response from a connection: :meth:`on_readable` is the loop's reader callback.

    ``done`` is set when the response is complete or failed (``error``); when ``streaming``, also when the
    head is in and whenever body bytes wait in ``body`` (the reader then takes them and waits on a new future).
    """

    __slots__ = (
        "body",
        "chunk_end",
        "chunk_left",
        "done",
        "encoding",
        "error",
        "error_only",
        "got_any",
        "keep_alive",
        "length",
        "max_bytes",
        "mode",
        "pooled",
        "pos",
        "raw",
        "scratch",
        "sock",
        "spare",
        "status",
        "streaming",
        "view",
    )

    def __init__(self, sock: socket.socket, done: asyncio.Future[None], max_bytes: int,
                 streaming: bool = False, scratch: bytearray | None = None,
                 spare: list[bytearray] | None = None) -> None:
        self.sock = sock
        self.done = done
        self.max_bytes = max_bytes
        self.status = 0
        self.keep_alive = False
        self.raw = bytearray()  # the head, then (chunked or until-close bodies) what is not parsed yet
        self.body = bytearray()
        self.view = memoryview(b"")  # over the body once its length is known (a view pins a bytearray's size)
        self.pos = 0
        self.length = 0
        self.mode = "head"  # head, length, chunked, close, done
        self.chunk_left = -1  # -1: a chunk-size line is expected next; -2: the trailer section
        self.chunk_end = 0  # > 0: the current chunk's data is read straight into body[pos:chunk_end] through view
        self.encoding = b""
        self.scratch = scratch if scratch is not None else bytearray(READ_SIZE)
        """Where reads go while the body's size is not known; what is read is copied out before the callback
        returns, so the client's exchanges share one (no 32 KiB allocated and zeroed per request)."""
        self.spare = spare
        """Body buffers given back to the client (:meth:`Client.recycle`), taken for a whole body."""
        self.pooled = False
        """Whether this exchange took one already (a chunked body takes one for its first chunk only)."""
        self.got_any = False
        self.error_only = False
        self.error: Exception | None = None
        self.streaming = streaming

    # --- the loop's callback ----------------------------------------------------------------------------------

    def on_readable(self) -> None:
        if self.done.done():
            return
        try:
            if self.mode == "length":
                self._read_into_body()
            else:
                if self.chunk_end:
                    self._read_chunk_into_body()
                self._read_scratch()
        except _WOULD_BLOCK:
            return
        except _WANT_WRITE:
            return  # a TLS key update waits for the socket to be writable; it will be readable again after
        except (FetchError, _StaleConnection) as exc:
            self._fail(exc)
        except OSError as exc:
            if self.mode == "head" and not self.got_any:  # reset before any byte: as closed (a reused one is retried)
                self._fail(_StaleConnection())
            else:
                self._fail(self._broken(f"{type(exc).__name__}: {exc}"))
        except Exception as exc:  # a parsing slip must fail this request, never be left to the loop
            self._fail(FetchError("malformed", f"broken response: {type(exc).__name__}: {exc}"))

    def _fail(self, exc: Exception) -> None:
        # Without its traceback the error holds none of the frames that reference this exchange's buffers.
        self.release()
        self.error = exc.with_traceback(None)
        _set_ready(self.done)

    def take_error(self) -> Exception:
        """The failure, no longer held here (raised, its traceback would tie the exchange into a cycle)."""
        error, self.error = self.error, None
        assert error is not None
        return error

    def release(self) -> None:
        """Drop the buffers now (a failed scrape must not keep up to the cap alive until a collection)."""
        self.view = memoryview(b"")
        self.body = bytearray()
        self.raw = bytearray()
        self.scratch = bytearray()

    def _read_into_body(self) -> None:
        recv_into, view, length = self.sock.recv_into, self.view, self.length
        pos = self.pos
        try:
            while pos < length:
                n = recv_into(view[pos:])
                if not n:
                    self.pos = pos
                    raise self._broken(f"connection closed after {pos} of {length} body bytes")
                pos += n
        finally:
            self.pos = pos
        self._finish(reusable=not self.error_only)

    def _read_scratch(self) -> None:
        recv_into, scratch = self.sock.recv_into, self.scratch
        data = memoryview(scratch)
        while True:
            n = recv_into(scratch)
            if not n:
                self._at_eof()
                return
            self.got_any = True
            if self.mode == "head" and not self.raw:
                self._head_in_scratch(n)
            else:
                self._feed(data[:n])
            if self.mode == "length":
                self._read_into_body()
                return
            if self.done.done():  # complete, or (streaming) bytes for the reader: it asks for more
                return
            if self.mode == "chunked" and self.chunk_left > 0 and not self.raw and not self.streaming \
                    and not self.error_only:
                self._start_chunk_in_body()
                self._read_chunk_into_body()

    def _start_chunk_in_body(self) -> None:
        """Make room in the body for the rest of the current chunk (a Go kubelet sends its summary as one
        chunk), so that it is read there directly, as a ``Content-Length`` body is: not through the scratch,
        ``raw`` and a growing body. Room for one byte past the cap at most: that byte fails the read."""
        body = self.body
        start = len(body)
        want = min(self.chunk_left, self.max_bytes + 1 - start)
        if self.spare and not self.pooled:  # the first chunk read this way (usually the only one): a spare buffer
            grown = self._buffer(start + want)
            grown[:start] = body  # the few bytes of the chunk that came with the head
            body = self.body = grown
        elif start:
            body += bytes(want)
        else:
            body = self.body = bytearray(want)
        self.pos = start
        self.chunk_end = start + want
        self.view = memoryview(body)

    def _read_chunk_into_body(self) -> None:
        recv_into, view, end = self.sock.recv_into, self.view, self.chunk_end
        pos = start = self.pos
        try:
            while pos < end:
                n = recv_into(view[pos:end])
                if not n:
                    break
                pos += n
        finally:
            self.pos = pos
            self.chunk_left -= pos - start
        self.view = memoryview(b"")
        view.release()
        self.chunk_end = 0
        if pos < end:  # the connection closed mid-chunk
            del self.body[pos:]
            self._at_eof()
        if len(self.body) > self.max_bytes:
            raise FetchError("too_large", f"body exceeds the cap of {self.max_bytes} bytes")
        if self.chunk_left == 0:
            self.chunk_left = -3  # the CRLF after the data

    # --- parsing ----------------------------------------------------------------------------------------------

    def _head_in_scratch(self, n: int) -> None:
        """The first ``n`` bytes of an answer are in ``scratch``: parse the head there when it is whole (the
        usual case: one TLS record holds it) and copy only the body bytes after it, else keep them all."""
        scratch = self.scratch
        end = scratch.find(_HEAD_END, 0, n)
        if end < 0:
            with memoryview(scratch) as view:
                self._feed(view[:n])
            return
        self._start_body(bytes(scratch[:end]))
        if self.streaming:
            _set_ready(self.done)
        if end + 4 == n:
            return
        if self.mode == "done":
            self.keep_alive = False  # bytes after a body-less answer: do not trust this connection again
        else:
            with memoryview(scratch) as view:
                self._feed_body(view[end + 4:n])

    def _feed(self, data: memoryview) -> None:
        if self.mode == "head":
            start = max(0, len(self.raw) - 3)
            self.raw += data
            end = self.raw.find(_HEAD_END, start)
            if end < 0:
                if len(self.raw) > HEAD_LIMIT:
                    raise FetchError("malformed", f"response head longer than {HEAD_LIMIT} bytes")
                return
            rest = bytes(self.raw[end + 4:])
            self._start_body(bytes(self.raw[:end]))
            self.raw = bytearray()
            if self.streaming:
                _set_ready(self.done)
            if rest and self.mode == "done":
                self.keep_alive = False  # bytes after a body-less answer: do not trust this connection again
            elif rest:
                self._feed_body(memoryview(rest))
        else:
            self._feed_body(data)

    def _start_body(self, head: bytes) -> None:
        status, http11, headers = _parse_head(head)
        if 100 <= status < 200:
            raise FetchError("malformed", f"unexpected informational status {status}")
        self.status = status
        self.error_only = status != 200
        connection = headers.get(b"connection", b"").lower()
        self.keep_alive = b"close" not in connection if http11 else b"keep-alive" in connection
        self.encoding = headers.get(b"content-encoding", b"identity").strip().lower()
        if self.encoding not in (b"identity", b"gzip", b"x-gzip", b"deflate"):
            raise FetchError("malformed", f"unsupported content encoding {self.encoding.decode('latin-1')!r}")
        if status in (204, 304):  # never a body
            self._finish(reusable=True)
            return
        transfer = headers.get(b"transfer-encoding", b"").strip().lower()
        declared = headers.get(b"content-length")
        if transfer:
            if transfer != b"chunked":
                raise FetchError("malformed", f"unsupported transfer encoding {transfer.decode('latin-1')!r}")
            self.mode = "chunked"
        elif declared is not None:
            if not declared.isdigit() or (b"," in declared):
                raise FetchError("malformed", f"bad Content-Length {declared[:40]!r}")
            length = int(declared)
            if length > self.max_bytes and not self.error_only:
                raise FetchError("too_large", f"body of {length} bytes exceeds the cap of {self.max_bytes}")
            if self.error_only and length > ERROR_BODY:
                length, self.keep_alive = ERROR_BODY, False
            self.length = length
            self.body = bytearray(length) if self.error_only else self._buffer(length)
            self.view = memoryview(self.body)
            self.mode = "length"
            if length == 0:
                self._finish(reusable=True)
        else:
            self.mode = "close"
            self.keep_alive = False

    def _buffer(self, size: int) -> bytearray:
        """A buffer of ``size`` bytes for the body: one given back to the client if there is one (resized; its old
        bytes are all overwritten before the answer is complete), else a new one. A given-back buffer saves the
        allocation and zeroing of a body per answer (a summary: 118 KB from a fragmented heap)."""
        if not self.spare:
            return bytearray(size)
        self.pooled = True
        body = self.spare.pop()
        have = len(body)
        if have > size:
            del body[size:]
        elif have < size:
            body += bytes(size - have)
        return body

    def _feed_body(self, data: memoryview) -> None:
        if self.mode == "length":
            take = min(len(data), self.length - self.pos)
            self.view[self.pos:self.pos + take] = data[:take]
            self.pos += take
            if take < len(data):
                self.keep_alive = False  # bytes after the body: do not trust this connection again
            if self.pos == self.length:
                self._finish(reusable=not self.error_only)
        elif self.mode == "chunked":
            self.raw += data
            self._dechunk()
        elif self.mode == "close":
            self._append(data)

    def _append(self, data: memoryview | bytearray) -> None:
        self.body += data
        if self.error_only and len(self.body) >= ERROR_BODY:
            del self.body[ERROR_BODY:]
            self._finish(reusable=False)
        elif len(self.body) > self.max_bytes:
            raise FetchError("too_large", f"body exceeds the cap of {self.max_bytes} bytes")
        elif self.streaming:
            _set_ready(self.done)

    def _dechunk(self) -> None:
        """Move every complete piece of chunked data from ``raw`` to the body; keep what is incomplete."""
        raw = self.raw
        at = 0
        while self.mode == "chunked":
            if self.chunk_left > 0:
                take = min(self.chunk_left, len(raw) - at)
                if take <= 0:
                    break
                with memoryview(raw) as view:
                    self._append(view[at:at + take])
                at += take
                self.chunk_left -= take
                if self.chunk_left == 0:
                    self.chunk_left = -3  # the CRLF after the data
            elif self.chunk_left == -3:
                if len(raw) - at < 2:
                    break
                if raw[at:at + 2] != b"\r\n":
                    raise FetchError("malformed", "broken chunked body: no CRLF after a chunk")
                at += 2
                self.chunk_left = -1
            else:
                end = raw.find(b"\r\n", at)
                if end < 0:
                    if len(raw) - at > CHUNK_LINE_LIMIT:
                        raise FetchError("malformed", "broken chunked body: chunk-size line too long")
                    break
                line = bytes(raw[at:end])
                at = end + 2
                if self.chunk_left == -2:  # the trailer section ends with an empty line
                    if not line:
                        self._finish(reusable=not self.error_only and at == len(raw))
                    continue
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise FetchError("malformed", f"broken chunked body: chunk size {size_text[:20]!r}") from None
                if size < 0:
                    raise FetchError("malformed", "broken chunked body: negative chunk size")
                self.chunk_left = size if size else -2
        if self.mode != "done":
            del raw[:at]

    def _at_eof(self) -> None:
        if self.mode == "close":
            self._finish(reusable=False)
        elif not self.got_any:
            raise _StaleConnection()
        else:
            raise self._broken("connection closed before the end of the answer")

    def _broken(self, what: str) -> FetchError:
        if self.mode == "head":
            return FetchError("connect", f"server closed the connection before answering: {what}")
        return FetchError("malformed", f"broken response: {what}")

    def _finish(self, reusable: bool) -> None:
        self.keep_alive = self.keep_alive and reusable
        self.mode = "done"
        _set_ready(self.done)

    # --- the result -------------------------------------------------------------------------------------------

    def answer(self) -> Answer:
        """The response, its body the receive buffer itself (no copy) or the decompressed bytes."""
        body: bytes | bytearray = self.body
        if self.encoding != b"identity" and not self.error_only:
            body = _decompress(self.body, self.encoding, self.max_bytes)
        self.view = memoryview(b"")  # the body is the caller's now: free to resize
        self.body = bytearray()
        return Answer(self.status, body)


def _decompress(data: bytearray, encoding: bytes, limit: int) -> bytes:
    """A gzip or deflate body decompressed, :class:`FetchError` ``too_large`` past ``limit`` bytes."""
    wbits = 47 if encoding in (b"gzip", b"x-gzip") else 15  # 47: gzip or zlib header; deflate: zlib stream
    try:
        inflater = zlib.decompressobj(wbits)
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        if encoding != b"deflate":
            raise FetchError("malformed", f"broken {encoding.decode()} body: {exc}") from None
        try:  # some servers send raw deflate without the zlib header
            inflater = zlib.decompressobj(-15)
            out = inflater.decompress(data, limit + 1)
        except zlib.error as exc2:
            raise FetchError("malformed", f"broken deflate body: {exc2}") from None
    if len(out) > limit:
        raise FetchError("too_large", f"body exceeds the cap of {limit} bytes once decompressed")
    return out


def _set_ready(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _wait_fd(loop: asyncio.AbstractEventLoop, fd: int, *, write: bool) -> None:
    future = loop.create_future()
    if write:
        loop.add_writer(fd, _set_ready, future)
    else:
        loop.add_reader(fd, _set_ready, future)
    try:
        await future
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


async def _wait_readable(loop: asyncio.AbstractEventLoop, fd: int, exchange: _Exchange) -> None:
    """Feed ``exchange`` from ``fd`` through the loop's reader callback until it sets its ``done``."""
    loop.add_reader(fd, exchange.on_readable)
    try:
        await exchange.done
    finally:
        loop.remove_reader(fd)


def _readable_now(fd: int) -> bool:
    """Whether ``fd`` has something to read (or is closed) now; poll, not select: fds go past 1024."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    try:
        return bool(poller.poll(0))
    except OSError:
        return True


def _is_ip(host: str) -> int:
    """The address family of an IP literal, else 0."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family
    return 0


class Client:
    """GETs over kept-alive HTTP/1.1 connections, TLS sessions resumed when a connection must be made anew.

    ``ssl_context`` verifies servers (and carries any client certificate) for ``https`` origins; ``None`` for a
    client of ``http`` origins only (an OpenSSL context costs ~1.2 MiB, and an ``https`` origin then fails to
    connect). Use one
    client per event loop; idle connections are not registered with any loop. ``connect_timeout`` bounds
    making a connection (None: only the caller's own timeout); callers bound whole requests themselves.
    ``read_ahead``: OpenSSL reads the sockets of connections made from ``ssl_context`` up to this many bytes at
    once (:func:`heapster.http1.readahead.read_ahead`: set on the context itself); 0 leaves the context as it is.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None, *, max_bytes: int,
                 keepalive: float = KEEPALIVE_SECONDS, connect_timeout: float | None = None,
                 read_ahead: int = READ_AHEAD_BUFFER) -> None:
        self.ssl_context = ssl_context
        self.reads_ahead = False
        """Whether OpenSSL reads this client's TLS sockets ahead (records taken out of large reads)."""
        if ssl_context is not None:
            _know_tls()
            if read_ahead:
                self.reads_ahead = _read_ahead(ssl_context, read_ahead)
        self.max_bytes = max_bytes
        self.keepalive = keepalive
        self.connect_timeout = connect_timeout
        self._idle: dict[Origin, list[_Connection]] = {}
        self._sessions: dict[Origin, ssl.SSLSession] = {}
        self._swept = time.monotonic()
        self._scratch = bytearray(READ_SIZE)
        """Shared by this client's exchanges (one loop: one callback reads at a time, copying what it read out)."""
        self._spare: list[bytearray] = []
        """Body buffers given back by their readers (:meth:`recycle`), at most :data:`SPARE_BODIES`."""
        self.connections_made = 0
        """Connections opened so far (for tests and benchmarks)."""
        self.sessions_resumed = 0
        """New TLS connections that resumed an earlier session."""

    async def get(self, origin: Origin, request: bytes) -> Answer:
        """Send ``request`` (a whole GET request) to ``origin`` and read the answer; :class:`FetchError` on failure."""
        conn, exchange = await self._begin(origin, request, streaming=False)
        try:
            if exchange.mode == "done" and exchange.keep_alive:
                self._keep(origin, conn)
            else:
                conn.close()
            return exchange.answer()
        finally:
            exchange.release()

    async def open(self, origin: Origin, request: bytes) -> Response:
        """Send ``request`` and return once the response head is in; read (or close) the :class:`Response`."""
        conn, exchange = await self._begin(origin, request, streaming=True)
        return Response(self, origin, conn, exchange)

    async def _begin(self, origin: Origin, request: bytes, *, streaming: bool) -> tuple[_Connection, _Exchange]:
        """A connection (kept-alive or new) and its exchange, once the answer (``streaming``: its head) is in."""
        if time.monotonic() - self._swept > self.keepalive:
            self._sweep()
        conn = self._take_idle(origin)
        if conn is not None:
            try:
                return conn, await self._exchange(conn, request, streaming)
            except _StaleConnection:
                pass  # the server closed it while idle: once more on a new connection
        conn = await self._connect(origin)
        try:
            return conn, await self._exchange(conn, request, streaming)
        except _StaleConnection:
            raise FetchError("connect", "server closed the connection before answering") from None

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if now - conn.idle_since < self.keepalive and not _readable_now(conn.fd):
                return conn
            conn.close()  # too old, or the server closed it (or sent something) while idle
        return None

    def _sweep(self) -> None:
        """Close connections idle for longer than the keep-alive time (kubelets of nodes that went away)."""
        now = self._swept = time.monotonic()
        for origin, conns in list(self._idle.items()):
            for conn in conns:
                if now - conn.idle_since >= self.keepalive:
                    conn.close()
            kept = [conn for conn in conns if now - conn.idle_since < self.keepalive]
            if kept:
                self._idle[origin] = kept
            else:
                del self._idle[origin]
                self._sessions.pop(origin, None)

    async def _connect(self, origin: Origin) -> _Connection:
        if self.connect_timeout is None:
            return await self._connect_now(origin)
        try:
            async with asyncio.timeout(self.connect_timeout):
                return await self._connect_now(origin)
        except TimeoutError:
            pass  # raised below, outside the except block
        raise FetchError("connect", f"cannot connect to {_host_port(origin)}: timed out after "
                                    f"{self.connect_timeout:g}s")

    async def _connect_now(self, origin: Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            family = _is_ip(origin.host)
            if family:
                address: tuple[str, int] = (origin.host, origin.port)
            else:
                infos = await loop.getaddrinfo(origin.host, origin.port, type=socket.SOCK_STREAM)
                if not infos:
                    raise OSError(f"no address for {origin.host}")
                family, _, _, _, sockaddr = infos[0]
                address = (str(sockaddr[0]), int(sockaddr[1]))
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:
            raise FetchError("connect", f"cannot connect to {_host_port(origin)}: {_os_reason(exc)}") from None
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.sock_connect(sock, address)
            if origin.scheme == "https":
                sock = await self._handshake(loop, origin, sock)
        except _CERT_FAILED as exc:
            sock.close()
            message = (f"cannot connect to {_host_port(origin)}: certificate verification failed: "
                       f"[{exc.reason}] {exc.verify_message}")
            raise FetchError("connect", message) from None
        except (OSError, ValueError) as exc:
            sock.close()
            raise FetchError("connect", f"cannot connect to {_host_port(origin)}: {_os_reason(exc)}") from None
        except BaseException:
            sock.close()
            raise
        self.connections_made += 1
        return _Connection(sock)

    async def _handshake(self, loop: asyncio.AbstractEventLoop, origin: Origin, sock: socket.socket) -> ssl.SSLSocket:
        if self.ssl_context is None:
            msg = "https needs a TLS context and this client has none"
            raise ValueError(msg)
        tls = self.ssl_context.wrap_socket(sock, server_hostname=origin.host, do_handshake_on_connect=False,
                                           session=self._sessions.get(origin))
        fd = tls.fileno()
        try:
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    await _wait_fd(loop, fd, write=False)
                except ssl.SSLWantWriteError:
                    await _wait_fd(loop, fd, write=True)
        except BaseException:
            tls.close()
            raise
        if tls.session_reused:
            self.sessions_resumed += 1
        return tls

    async def _exchange(self, conn: _Connection, request: bytes, streaming: bool) -> _Exchange:
        """Send ``request`` on ``conn``; the exchange once its answer (``streaming``: head) is in.

        On any failure ``conn`` is closed.
        """
        loop = asyncio.get_running_loop()
        exchange = _Exchange(conn.sock, loop.create_future(), self.max_bytes, streaming, self._scratch, self._spare)
        try:
            try:
                await self._send(loop, conn, request)
            except OSError as exc:
                if not conn.fresh:
                    raise _StaleConnection() from None
                raise FetchError("connect", f"cannot send the request: {_os_reason(exc)}") from None
            await _wait_readable(loop, conn.fd, exchange)
            if exchange.error is not None:
                raise exchange.take_error()
        except _StaleConnection:
            exchange.release()
            conn.close()
            if conn.fresh:
                raise FetchError("connect", "server closed the connection before answering") from None
            raise
        except BaseException:
            exchange.release()
            conn.close()
            raise
        return exchange

    async def _send(self, loop: asyncio.AbstractEventLoop, conn: _Connection, request: bytes) -> None:
        view = memoryview(request)
        while view:
            try:
                view = view[conn.sock.send(view):]
            except (BlockingIOError, InterruptedError):
                await _wait_fd(loop, conn.fd, write=True)
            except _WANT_WRITE:
                await _wait_fd(loop, conn.fd, write=True)
            except _WANT_READ:
                await _wait_fd(loop, conn.fd, write=False)

    def _keep(self, origin: Origin, conn: _Connection) -> None:
        if conn.fresh and origin.scheme == "https" and isinstance(conn.sock, ssl.SSLSocket):
            session = conn.sock.session
            if session is not None:
                self._sessions[origin] = session
        conn.fresh = False
        conn.idle_since = time.monotonic()
        self._idle.setdefault(origin, []).append(conn)

    def recycle(self, body: bytes | bytearray) -> None:
        """Give back the body of an answer (:attr:`Answer.body`) whose reader is done with it and keeps no view or
        reference to it: a later answer is read into it instead of a new buffer."""
        if type(body) is bytearray and len(self._spare) < SPARE_BODIES and len(body) <= SPARE_BODY_MAX:
            self._spare.append(body)

    def spare_bodies(self) -> int:
        """How many given-back body buffers wait for the next answers."""
        return len(self._spare)

    def forget(self, origin: Origin) -> None:
        """Close the idle connections to ``origin`` and drop its TLS session."""
        for conn in self._idle.pop(origin, ()):
            conn.close()
        self._sessions.pop(origin, None)

    def idle_connections(self) -> int:
        """How many kept-alive connections wait for their next request."""
        return sum(len(conns) for conns in self._idle.values())

    def close(self) -> None:
        """Close every idle connection and forget the TLS sessions."""
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()
        self._sessions.clear()


def _host_port(origin: Origin) -> str:
    host = f"[{origin.host}]" if ":" in origin.host else origin.host
    return f"{host}:{origin.port}"


def _os_reason(exc: OSError | ValueError) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.strip()


class Response:
    """A response being streamed (:meth:`Client.open`): ``status``, then the body through :meth:`chunks`.

    Close it (or use ``async with``): a body read to its end leaves the connection to the client for
    reuse, one left unread closes it. A non-200 body is cut to its first :data:`ERROR_BODY` bytes.
    """

    def __init__(self, client: Client, origin: Origin, conn: _Connection, exchange: _Exchange) -> None:
        self.status = exchange.status
        self._client = client
        self._origin = origin
        self._conn: _Connection | None = conn
        self._exchange = exchange
        if exchange.mode == "done":
            self._settle()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive (dechunked); :class:`FetchError` if the stream breaks."""
        exchange = self._exchange
        if exchange.encoding != b"identity" and not exchange.error_only:
            self.close()
            raise FetchError("malformed", f"compressed ({exchange.encoding.decode('latin-1')}) body not streamed")
        loop = asyncio.get_running_loop()
        while True:
            if exchange.mode != "length" and exchange.body:
                data, exchange.body = bytes(exchange.body), bytearray()
                yield data
                continue
            if exchange.mode == "done":
                self._settle()
                return
            if self._conn is None:
                raise FetchError("malformed", "response closed before its end")
            exchange.done = loop.create_future()
            exchange.on_readable()  # bytes already inside the TLS object make no readiness event
            if not exchange.done.done():
                await _wait_readable(loop, self._conn.fd, exchange)
            if exchange.error is not None:
                self.close()
                raise exchange.take_error()

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

    def _settle(self) -> None:
        """The body is complete: keep the connection for the next request or close it."""
        conn, self._conn = self._conn, None
        if conn is not None:
            if self._exchange.keep_alive:
                self._client._keep(self._origin, conn)
            else:
                conn.close()

    def close(self) -> None:
        """Close the connection unless the body was read to its end (then it is already back in the client)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            self._exchange.release()

    async def __aenter__(self) -> Response:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
