"""heapster.http1.Client against real servers on loopback: aiohttp's web server over HTTPS (trustme
certificates) and, for framings aiohttp would not produce, a raw asyncio server that writes given bytes in
given pieces."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import trustme
from aiohttp import web

from heapster.http1 import Answer, Client, FetchError, Origin, get_request
from heapster.testing.fixtures import FIXTURES
from heapster.testing.net import async_poll_until, async_wait_until

BODY = (FIXTURES / "kubelet-stats-summary-v1.35.json").read_bytes()
CAP = 1_000_000
REQUEST = b"GET /stats/summary/ HTTP/1.1\r\nHost: kubelet\r\n\r\n"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Https:
    """An aiohttp server over TLS with a trustme certificate; ``peers`` are the client ports seen per request."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self.peers: list[int] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, handler: Handler, keepalive_timeout: float = 75.0) -> None:
        async def recording(request: web.Request) -> web.StreamResponse:
            peer = request.transport.get_extra_info("peername") if request.transport else None
            self.peers.append(peer[1] if peer else 0)
            return await handler(request)

        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", recording)
        self.runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1,
                                    keepalive_timeout=keepalive_timeout)
        await self.runner.setup()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1").configure_cert(ctx)
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        self.port = self.runner.addresses[0][1]

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx

    def client(self, **kwargs: Any) -> Client:
        return Client(self.client_context(), max_bytes=CAP, **kwargs)

    @property
    def origin(self) -> Origin:
        return Origin("https", "127.0.0.1", self.port)

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def https() -> AsyncIterator[Https]:
    server = Https()
    yield server
    await server.close()


async def _body(request: web.Request) -> web.StreamResponse:
    return web.Response(body=BODY, content_type="application/json")


async def _chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for at in range(0, len(BODY), 7000):
        await response.write(BODY[at:at + 7000])
    await response.write_eof()
    return response


async def test_a_content_length_body_is_read_whole(https: Https) -> None:
    await https.start(_body)
    client = https.client()
    answer = await client.get(https.origin, REQUEST)
    assert answer == Answer(200, BODY)
    client.close()


async def test_a_chunked_body_is_dechunked(https: Https) -> None:
    await https.start(_chunked)
    client = https.client()
    assert await client.get(https.origin, REQUEST) == Answer(200, BODY)
    assert await client.get(https.origin, REQUEST) == Answer(200, BODY)  # and the connection stays usable
    assert client.connections_made == 1
    client.close()


async def _body_of_size(request: web.Request) -> web.StreamResponse:
    return web.Response(body=BODY[:int(request.query["size"])], content_type="application/json")


async def test_a_recycled_body_buffer_receives_later_bodies_longer_or_shorter(https: Https) -> None:
    await https.start(_body_of_size)
    client = https.client()

    def request(size: int) -> bytes:
        return f"GET /?size={size} HTTP/1.1\r\nHost: kubelet\r\n\r\n".encode()

    first = (await client.get(https.origin, request(30_000))).body
    assert first == BODY[:30_000]
    client.recycle(first)
    shorter = (await client.get(https.origin, request(20_000))).body
    assert shorter is first and shorter == BODY[:20_000]  # the same buffer, cut to the new body
    client.recycle(shorter)
    longer = (await client.get(https.origin, request(len(BODY)))).body
    assert longer is first and longer == BODY  # grown: no byte of the earlier body left
    fresh = (await client.get(https.origin, request(10_000))).body  # nothing given back: a new buffer
    assert fresh is not first and fresh == BODY[:10_000]
    client.close()


async def test_one_connection_is_kept_alive_across_requests(https: Https) -> None:
    await https.start(_body)
    client = https.client()
    for _ in range(3):
        assert (await client.get(https.origin, REQUEST)).body == BODY
    assert client.connections_made == 1
    assert len(set(https.peers)) == 1  # the server saw every request on one connection
    assert client.idle_connections() == 1
    client.close()
    assert client.idle_connections() == 0


async def test_a_connection_the_server_closed_while_idle_is_replaced_and_the_tls_session_resumed(
        https: Https) -> None:
    await https.start(_body, keepalive_timeout=0.2)
    client = https.client()
    await client.get(https.origin, REQUEST)
    idle = client._idle[https.origin][0]  # the kept connection, closed by the server after 0.2 s idle

    def closed_by_server() -> bool:
        return client._take_idle(https.origin) is None if _readable(idle.fd) else False

    await async_wait_until(closed_by_server, timeout=10)
    assert (await client.get(https.origin, REQUEST)).body == BODY
    assert client.connections_made == 2
    assert client.sessions_resumed == 1  # the second handshake resumed the first one's TLS session
    assert len(set(https.peers)) == 2
    client.close()


def _readable(fd: int) -> bool:
    import select

    return bool(select.select([fd], [], [], 0)[0])


async def test_a_declared_body_over_the_cap_is_refused_before_reading(https: Https) -> None:
    async def huge(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b" " * (CAP + 1), content_type="application/json")

    await https.start(huge)
    client = https.client()
    with pytest.raises(FetchError, match="exceeds the cap") as info:
        await client.get(https.origin, REQUEST)
    assert info.value.reason == "too_large"
    assert client.idle_connections() == 0  # the rest of that answer is never read: the connection is closed


async def test_a_streamed_body_over_the_cap_is_cut(https: Https) -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(100):
            await response.write(b" " * 65536)
        return response

    await https.start(endless)
    with pytest.raises(FetchError) as info:
        await https.client().get(https.origin, REQUEST)
    assert info.value.reason == "too_large"


async def test_gzip_bodies_are_decompressed_under_the_cap(https: Https) -> None:
    async def zipped(request: web.Request) -> web.StreamResponse:
        body = gzip.compress(BODY if request.path == "/small" else b" " * (CAP + 1))
        return web.Response(body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    await https.start(zipped)
    client = https.client()
    small = await client.get(https.origin, b"GET /small HTTP/1.1\r\nHost: k\r\n\r\n")
    assert small.body == BODY
    with pytest.raises(FetchError) as info:
        await client.get(https.origin, b"GET /bomb HTTP/1.1\r\nHost: k\r\n\r\n")
    assert info.value.reason == "too_large"


async def test_an_error_status_keeps_the_start_of_its_body(https: Https) -> None:
    async def denied(request: web.Request) -> web.StreamResponse:
        return web.Response(status=401, text="Unauthorized " + "x" * 2000)

    await https.start(denied)
    answer = await https.client().get(https.origin, REQUEST)
    assert answer.status == 401
    assert answer.body.startswith(b"Unauthorized xxx") and len(answer.body) == 512


async def test_an_unverifiable_certificate_fails_to_connect(https: Https) -> None:
    await https.start(_body)
    client = Client(ssl.create_default_context(), max_bytes=CAP)  # the system CAs: not trustme's
    with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED") as info:
        await client.get(https.origin, REQUEST)
    assert info.value.reason == "connect"
    assert https.peers == []  # no request was sent


async def test_a_client_without_tls_context_gets_http_and_refuses_https(https: Https, stdlib_server: str) -> None:
    client = Client(None, max_bytes=CAP)
    answer = await client.get(Origin.of_url(stdlib_server), b"GET /sized HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.status == 200
    await https.start(_body)
    with pytest.raises(FetchError, match="https needs a TLS context") as info:
        await client.get(https.origin, REQUEST)
    assert info.value.reason == "connect"
    assert https.peers == []


async def test_a_refused_connection_fails_to_connect() -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    client = Client(ssl.create_default_context(), max_bytes=CAP)
    with pytest.raises(FetchError, match=f"cannot connect to 127.0.0.1:{port}") as info:
        await client.get(Origin("http", "127.0.0.1", port), REQUEST)
    assert info.value.reason == "connect"


async def test_a_timeout_closes_the_connection_and_the_next_request_uses_a_new_one(https: Https) -> None:
    release = asyncio.Event()

    async def slow_once(request: web.Request) -> web.StreamResponse:
        if len(https.peers) == 1:
            await release.wait()  # the slow kubelet under test, not a wait of the test
        return web.Response(body=BODY)

    await https.start(slow_once)
    client = https.client()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await client.get(https.origin, REQUEST)
    assert client.idle_connections() == 0
    release.set()
    assert (await client.get(https.origin, REQUEST)).body == BODY
    assert client.connections_made == 2


# --- framings aiohttp would not produce, from a raw server -----------------------------------------------------


class RawServer:
    """Answers every request with ``answer`` written in ``pieces`` (a flush between pieces); then maybe closes."""

    def __init__(self, answer: bytes, pieces: int = 1, close: bool = False, drop_after: int = 0) -> None:
        self.answer = answer
        self.pieces = pieces
        self.close_after = close
        self.drop_after = drop_after  # >0: a connection's request after this many is read, then the connection closed
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                try:
                    await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                if self.drop_after and served == self.drop_after:
                    return  # as a kubelet closing an idle connection just as a request arrives
                served += 1
                await self._write_answer(writer)
                if self.close_after:
                    return
        finally:
            writer.close()

    async def _write_answer(self, writer: asyncio.StreamWriter) -> None:
        step = max(1, len(self.answer) // self.pieces)
        for at in range(0, len(self.answer), step):
            writer.write(self.answer[at:at + step])
            await writer.drain()
            await asyncio.sleep(0)  # the double's behaviour, not a wait: the answer leaves in separate pieces

    async def __aenter__(self) -> Origin:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return Origin("http", "127.0.0.1", self.server.sockets[0].getsockname()[1])

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


def _chunk_framed(body: bytes, size: int, trailer: bytes = b"") -> bytes:
    parts = [b"%x;ext=1\r\n%s\r\n" % (len(body[at:at + size]), body[at:at + size]) for at in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n" + trailer + b"\r\n"


async def test_chunk_framing_split_anywhere_is_read_as_one_body() -> None:
    answer = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
              + _chunk_framed(BODY, 1000, trailer=b"X-Trailer: yes\r\n"))
    async with RawServer(answer, pieces=997) as origin:  # pieces cut through size lines, CRLFs and data
        client = Client(ssl.create_default_context(), max_bytes=CAP)
        assert (await client.get(origin, REQUEST)).body == BODY
        assert (await client.get(origin, REQUEST)).body == BODY
        assert client.connections_made == 1


async def test_a_body_sent_as_one_chunk_in_pieces_is_read_whole_and_the_connection_kept() -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunk_framed(BODY, len(BODY))
    async with RawServer(answer, pieces=7) as origin:  # as a Go kubelet: the summary is one chunk
        client = Client(ssl.create_default_context(), max_bytes=CAP)
        for _ in range(3):
            assert (await client.get(origin, REQUEST)).body == BODY
        assert client.connections_made == 1


async def test_a_body_sent_as_one_chunk_is_read_into_a_recycled_buffer() -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunk_framed(BODY, len(BODY))
    async with RawServer(answer, pieces=7) as origin:
        client = Client(ssl.create_default_context(), max_bytes=CAP)
        first = (await client.get(origin, REQUEST)).body
        assert isinstance(first, bytearray)
        first[:] = bytes(len(first) + 100)  # stale bytes, longer than the next body: all cut or overwritten
        client.recycle(first)
        again = (await client.get(origin, REQUEST)).body
        assert again is first and again == BODY


async def test_a_chunk_over_the_cap_fails_as_too_large() -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunk_framed(BODY, len(BODY))
    async with RawServer(answer, pieces=3) as origin:
        client = Client(ssl.create_default_context(), max_bytes=len(BODY) - 1)
        with pytest.raises(FetchError, match="exceeds the cap") as info:
            await client.get(origin, REQUEST)
        assert info.value.reason == "too_large"
        assert client.idle_connections() == 0


async def test_a_body_up_to_the_end_of_the_connection_is_read_and_not_reused() -> None:
    answer = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + BODY
    async with RawServer(answer, pieces=5, close=True) as origin:
        client = Client(ssl.create_default_context(), max_bytes=CAP)
        assert (await client.get(origin, REQUEST)).body == BODY
        assert client.idle_connections() == 0


async def test_connection_close_is_honoured() -> None:
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
    async with RawServer(answer, close=True) as origin:
        client = Client(ssl.create_default_context(), max_bytes=CAP)
        assert (await client.get(origin, REQUEST)).body == b"{}"
        assert (await client.get(origin, REQUEST)).body == b"{}"
        assert client.connections_made == 2


@pytest.mark.parametrize(("answer", "reason", "message"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"node\":", "malformed", "connection closed after"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed", "chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n" + b"x" * 3000, "malformed", "before the end"),
    (b"SPDY/9 200 OK\r\n\r\n", "malformed", "bad status line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "malformed", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\n{}", "malformed", "encoding"),
    (b"HTTP/1.1 200 OK\r\nContent-Len", "connect", "closed the connection before answering"),
    (b"", "connect", "closed the connection before answering"),
])
async def test_broken_answers_fail_with_their_reason(answer: bytes, reason: str, message: str) -> None:
    async with RawServer(answer, close=True) as origin:
        client = Client(ssl.create_default_context(), max_bytes=CAP)
        with pytest.raises(FetchError, match=message) as info:
            await client.get(origin, REQUEST)
        assert info.value.reason == reason
        assert client.idle_connections() == 0


async def test_connections_idle_past_the_keepalive_time_are_closed_by_later_requests() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    async with RawServer(answer) as gone, RawServer(answer) as staying:
        client = Client(ssl.create_default_context(), max_bytes=CAP, keepalive=0.2)
        await client.get(gone, REQUEST)  # a node that is not scraped again
        first = client._idle[gone][0]

        async def only_the_live_one_kept() -> bool:
            await client.get(staying, REQUEST)
            return client.idle_connections() == 1 and gone not in client._idle

        await async_poll_until(only_the_live_one_kept, 10, what="the idle connection to be closed")
        assert first.sock.fileno() == -1  # closed, not just forgotten
        client.close()


async def test_a_body_less_status_does_not_wait_for_a_body() -> None:
    async with RawServer(b"HTTP/1.1 204 No Content\r\n\r\n") as origin:
        client = Client(ssl.create_default_context(), max_bytes=CAP)
        async with asyncio.timeout(10):
            assert await client.get(origin, REQUEST) == Answer(204, b"")
        assert client.idle_connections() == 1


async def test_a_reused_connection_closed_before_answering_is_retried_once_on_a_new_one() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    server = RawServer(answer, drop_after=1)
    async with server as origin:
        client = Client(ssl.create_default_context(), max_bytes=CAP)
        assert (await client.get(origin, REQUEST)).body == b"{}"
        assert (await client.get(origin, REQUEST)).body == b"{}"  # the kept connection is dropped: retried
        assert client.connections_made == 2
        assert server.connections == 2


async def test_keep_alive_holds_for_file_descriptors_past_1024() -> None:
    import resource
    import socket

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(2048, hard), hard))
    filler = [socket.socket() for _ in range(1100)]  # the next sockets get descriptors above 1024, as at 5000 nodes
    try:
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
        async with RawServer(answer) as origin:
            client = Client(ssl.create_default_context(), max_bytes=CAP)
            await client.get(origin, REQUEST)
            assert client._idle[origin][0].fd > 1024
            await client.get(origin, REQUEST)
            assert client.connections_made == 1
            client.close()
    finally:
        for sock in filler:
            sock.close()


# --- streamed bodies (watches) ---------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        if self.path.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b'{"a":1}\n{"b"', b":2}\n", b"x" * 70_000):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        elif self.path.startswith("/sized"):
            body = f"{self.path} {self.headers['Authorization']} {self.headers['Host']}".encode()
            self.send_response(410 if "gone" in self.path else 200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:  # no length: the body ends with the connection
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until the end")
            self.close_connection = True


@pytest.fixture
def stdlib_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _plain() -> Client:
    return Client(ssl.create_default_context(), max_bytes=CAP)


async def test_streamed_bodies_chunked_sized_and_until_close_from_the_stdlib_server(stdlib_server: str) -> None:
    client = _plain()
    origin = Origin.of_url(stdlib_server)
    async with await client.open(origin, get_request(stdlib_server + "/chunked")) as resp:
        assert resp.status == 200
        body = b"".join([chunk async for chunk in resp.chunks()])
    assert body == b'{"a":1}\n{"b":2}\n' + b"x" * 70_000
    assert client.idle_connections() == 1  # read to its end: kept for the next request
    request = get_request(stdlib_server + "/sized?x=1", params={"watch": "1", "rv": "a b"},
                          headers={"Authorization": "Bearer t"})
    async with await client.open(origin, request) as resp:
        text = (await resp.read()).decode()
    host = stdlib_server.removeprefix("http://")
    assert text == f"/sized?x=1&watch=1&rv=a+b Bearer t {host}"
    async with await client.open(origin, get_request(stdlib_server + "/sized/gone")) as resp:
        assert resp.status == 410
        assert await resp.read(5) == b"/size"
    async with await client.open(origin, get_request(stdlib_server + "/rest")) as resp:
        assert await resp.read() == b"until the end"
    assert client.connections_made == 2  # one up to the 410 (an error answer's connection is not kept), one after
    client.close()


class TrickleServer(RawServer):
    """Answers with a chunked head, then writes each piece of ``pieces`` only when the test puts it there."""

    def __init__(self) -> None:
        super().__init__(b"")
        self.pieces: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def _write_answer(self, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while (piece := await self.pieces.get()) is not None:
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()


async def test_a_stream_yields_pieces_as_sent_keeps_its_connection_when_read_to_its_end_only() -> None:
    trickle = TrickleServer()
    async with trickle as origin:
        client = _plain()
        async with asyncio.timeout(10):
            resp = await client.open(origin, REQUEST)
            chunks = resp.chunks()
            for piece in (b'{"type":"ADDED"}\n', b'{"type":"BOOKMARK"}\n'):
                trickle.pieces.put_nowait(piece)
                assert await anext(chunks) == piece  # delivered while the server still holds the rest
            trickle.pieces.put_nowait(None)
            assert [chunk async for chunk in chunks] == []
            resp.close()
            assert client.idle_connections() == 1
            resp = await client.open(origin, REQUEST)  # the next watch: on the same connection
            trickle.pieces.put_nowait(b"x")
            assert await anext(resp.chunks()) == b"x"
            resp.close()  # before its end: the connection cannot serve another request
            assert client.idle_connections() == 0
        assert client.connections_made == 1
        assert trickle.connections == 1


async def test_a_streamed_piece_over_the_cap_fails_as_too_large() -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunk_framed(b"y" * 5000, 5000)
    async with RawServer(answer) as origin:
        client = Client(ssl.create_default_context(), max_bytes=1000)
        with pytest.raises(FetchError, match="exceeds the cap of 1000") as info:
            await (await client.open(origin, REQUEST)).read()  # at the head or at the read: as it arrives
        assert info.value.reason == "too_large"
        assert client.idle_connections() == 0


async def test_a_streamed_answer_that_is_not_http_is_refused() -> None:
    async with RawServer(b"SSH-2.0-OpenSSH\r\n\r\n", close=True) as origin:
        with pytest.raises(FetchError, match="bad status line") as info:
            await _plain().open(origin, REQUEST)
        assert info.value.reason == "malformed"


async def test_the_client_names_the_address_it_cannot_reach() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(FetchError, match=f"cannot connect to 127.0.0.1:{port}: "):
        await _plain().open(Origin.of_url(f"http://127.0.0.1:{port}/"), REQUEST)


def test_get_request_builds_the_target_query_host_and_headers() -> None:
    assert get_request("https://user@api:6443/api/v1/pods?a=1", params={"watch": "1"},
                       headers={"Authorization": "Bearer t"}) == (
        b"GET /api/v1/pods?a=1&watch=1 HTTP/1.1\r\nHost: api:6443\r\nAuthorization: Bearer t\r\n\r\n")
    assert Origin.of_url("https://[::1]/x") == Origin("https", "::1", 443)
    with pytest.raises(ValueError, match="not an http"):
        Origin.of_url("ftp://h/")


async def test_a_tls_handshake_that_never_completes_fails_after_the_connect_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts the TCP connection, never answers the TLS hello

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = Client(ssl.create_default_context(), max_bytes=CAP, connect_timeout=0.2)
        async with asyncio.timeout(10):
            with pytest.raises(FetchError, match=r"cannot connect to 127\.0\.0\.1:\d+: timed out after 0\.2s") as info:
                await client.open(Origin("https", "127.0.0.1", port), REQUEST)
        assert info.value.reason == "connect"
    finally:
        server.close()
        await server.wait_closed()
