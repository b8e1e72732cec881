"""heapster.http1 against real peers: its client against the stdlib HTTP server, its server against http.client."""

from __future__ import annotations

import asyncio
import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from heapster import http1
from heapster.http1 import Reply, Request, Server


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


async def test_client_reads_chunked_sized_and_close_delimited_bodies(stdlib_server: str) -> None:
    async with await http1.get(stdlib_server + "/chunked") as resp:
        assert resp.status == 200
        body = b"".join([chunk async for chunk in resp.chunks()])
    assert body == b'{"a":1}\n{"b":2}\n' + b"x" * 70_000
    resp = await http1.get(stdlib_server + "/sized?x=1", params={"watch": "1", "rv": "a b"},
                           headers={"Authorization": "Bearer t"})
    async with resp:
        text = (await resp.read()).decode()
    host = stdlib_server.removeprefix("http://")
    assert text == f"/sized?x=1&watch=1&rv=a+b Bearer t {host}"
    async with await http1.get(stdlib_server + "/sized/gone") as resp:
        assert resp.status == 410
        assert await resp.read(5) == b"/size"
    async with await http1.get(stdlib_server + "/rest") as resp:
        assert await resp.read() == b"until the end"


async def test_client_refuses_what_is_not_http() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(http1.ProtocolError, match="bad status line"):
            await http1.get(f"http://127.0.0.1:{port}/")
    finally:
        server.close()
        await server.wait_closed()


async def test_server_answers_routes_with_keep_alive_head_404_and_405() -> None:
    seen: list[Request] = []

    async def hello(request: Request) -> Reply:
        seen.append(request)
        return Reply(503 if "fail" in request.query else 200, "hello\n")

    server = Server({"/hello": hello})
    await server.start("127.0.0.1", 0)
    port = server.addresses[0][1]

    def talk() -> list[tuple[int, bytes, str | None]]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        out = []
        for method, path in (("GET", "/hello"), ("GET", "/hello?fail=&x=1"), ("HEAD", "/hello"),
                             ("GET", "/nope"), ("POST", "/hello")):
            conn.request(method, path, body=b"ignored" if method == "POST" else None)
            resp = conn.getresponse()
            out.append((resp.status, resp.read(), resp.getheader("Content-Type")))
        conn.close()
        return out

    try:
        answers = await asyncio.to_thread(talk)  # one kept-alive connection for all five
    finally:
        await server.cleanup()
    assert answers[0] == (200, b"hello\n", "text/plain; charset=utf-8")
    assert answers[1][:2] == (503, b"hello\n")
    assert answers[2][:2] == (200, b"")
    assert answers[3][0] == 404
    assert answers[4][0] == 405
    assert seen[1].query == {"fail": [""], "x": ["1"]}


async def test_server_closes_a_connection_without_a_request_head_in_time() -> None:
    server = Server({}, header_timeout=0.2, idle_timeout=0.2)
    await server.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.addresses[0][1])
        writer.write(b"GET /slow HTTP/1.1\r\n")  # never finishes its head
        async with asyncio.timeout(5):
            assert await reader.read() == b""  # closed by the server
        writer.close()
    finally:
        await server.cleanup()


async def test_client_names_the_address_it_cannot_reach() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(ConnectionError, match=f"cannot connect to 127.0.0.1:{port}: "):
        await http1.get(f"http://127.0.0.1:{port}/")
