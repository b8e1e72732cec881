"""HTTP API connections: silent, half-sent and idle connections are closed; malformed requests log quietly."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import AsyncIterator

import pytest

from heapster.api import create_api_app, start_api_server
from heapster.logs import configure
from heapster.store import MetricStore

TIMEOUT = 0.4
CLOSED_WITHIN = 5.0  # far below aiohttp's defaults (an hour), far above the timeouts under test


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, int]]:
    settings = {"listen_ip": "127.0.0.1", "heapster_port": 0, "api_idle_timeout": TIMEOUT,
                "api_header_timeout": TIMEOUT}
    runner = await start_api_server(create_api_app(MetricStore(), None, settings), settings)
    host, port = runner.addresses[0][:2]
    yield host, port
    await runner.cleanup()


async def closed_after(reader: asyncio.StreamReader) -> tuple[bytes, float]:
    """Everything the server sent until it closed the connection, and how long that took."""
    began = time.monotonic()
    data = await asyncio.wait_for(reader.read(), CLOSED_WITHIN)
    return data, time.monotonic() - began


async def test_a_connection_that_sends_nothing_is_closed(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    data, after = await closed_after(reader)
    assert data == b"" and after >= TIMEOUT * 0.9
    writer.close()


async def test_a_half_sent_request_head_is_closed(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    await writer.drain()
    data, _ = await closed_after(reader)
    assert data == b""
    writer.close()


async def test_an_idle_keep_alive_connection_is_closed_after_answering(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    for _ in range(3):  # requests within the timeouts keep working on one connection
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CLOSED_WITHIN)
        assert head.startswith(b"HTTP/1.1 200")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        await reader.readexactly(length)
    data, _ = await closed_after(reader)
    assert data == b""
    writer.close()


async def test_malformed_requests_get_400_and_one_warning_without_traceback(
        server: tuple[str, int], caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    configure(verbosity=0, fmt="json", stream=out)
    caplog.set_level(logging.DEBUG)
    try:
        for garbage in (b"GET /healthz HTTP/1.1\r\nBad Header Line\r\n\r\n", b"GET / HTTP/9.9z\r\n\r\n",
                        b"GET /healthz HTTP/1.1\r\nHost: " + b"x" * 20000 + b"\r\n\r\n"):
            reader, writer = await asyncio.open_connection(*server)
            writer.write(garbage)
            await writer.drain()
            data, _ = await closed_after(reader)
            assert data.split(b" ")[1] == b"400", data[:100]
            writer.close()
    finally:
        configure(verbosity=0, fmt="json")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    malformed = [line for line in lines if line["event"] == "api.request.malformed"]
    assert [line["level"] for line in malformed] == ["warning", "debug", "debug"]
    assert malformed[0]["error"].startswith("BadHttpMessage: Invalid header token")
    assert "exception" not in malformed[0] and "Traceback" not in out.getvalue()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info]
