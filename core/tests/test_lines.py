"""The line senders shared by the Graphite, StatsD and Wavefront sinks, against real loopback sockets."""

from __future__ import annotations

import asyncio
import socket

import pytest

from heapster.errors import RetryableError
from heapster.sinks.lines import TcpLineSender, UdpLineSender, split_host_port
from heapster.testing.net import free_port


@pytest.mark.parametrize(("text", "expected"), [
    ("", ("d", 1)), ("h", ("h", 1)), ("h:9", ("h", 9)), ("[::1]:9", ("::1", 9)), ("[::1]", ("::1", 1)),
    (":9", ("d", 9)),
])
def test_split_host_port(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text, "d", 1) == expected


@pytest.mark.parametrize("text", ["h:x", "h:0", "h:70000", "[::1", "[::1]x"])
def test_split_host_port_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        split_host_port(text, "d", 1)


async def test_tcp_send_returns_once_the_server_has_read_everything() -> None:
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read())  # until our end of stream
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    payload = b"a.b 1 2\n" * 100_000
    await TcpLineSender("127.0.0.1", port).send(payload)
    assert received == [payload]
    server.close()


async def test_tcp_to_nobody_is_retryable() -> None:
    with pytest.raises(RetryableError, match="cannot connect"):
        await TcpLineSender("127.0.0.1", free_port()).send(b"x 1 2\n")


async def test_tcp_server_that_keeps_the_connection_open_counts_as_delivered() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)  # a server that never answers: the behaviour under test, not a wait

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    sender = TcpLineSender("127.0.0.1", server.sockets[0].getsockname()[1], confirm_timeout=0.2)
    await sender.send(b"x 1 2\n")
    server.close()


async def test_udp_datagrams_arrive_and_an_unreachable_port_is_retryable() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    port = receiver.getsockname()[1]
    sender = UdpLineSender("127.0.0.1", port)
    await sender.send([b"a:1|g\n", b"b:2|g\n"])
    assert [receiver.recv(100), receiver.recv(100)] == [b"a:1|g\n", b"b:2|g\n"]
    receiver.close()
    with pytest.raises(RetryableError, match="ECONNREFUSED"):
        for _ in range(3):  # the "port unreachable" answer surfaces on the send after the one it answers
            await sender.send([b"c:3|g\n"])
    sender.close()
