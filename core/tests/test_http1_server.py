"""heapster.http1.Server against a real client: the stdlib's http.client."""

from __future__ import annotations

import asyncio
import http.client

from heapster.http1 import Reply, Request, Server


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
