"""OpenSSL's read-ahead on a client's TLS context (:mod:`heapster.http1.readahead`), and TLS GETs with it."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import pytest
import trustme
from aiohttp import web

from heapster.http1 import Answer, Client, Origin
from heapster.http1.readahead import read_ahead, reads_ahead
from heapster.testing.fixtures import FIXTURES

BODY = (FIXTURES / "kubelet-stats-summary-v1.35.json").read_bytes()  # 93 KB: six TLS records
REQUEST = b"GET /stats/summary/ HTTP/1.1\r\nHost: kubelet\r\n\r\n"


@pytest.fixture
async def https() -> AsyncIterator[tuple[Origin, trustme.CA]]:
    async def summary(request: web.Request) -> web.StreamResponse:
        return web.Response(body=BODY, content_type="application/json")

    app = web.Application()
    app.router.add_get("/stats/summary/", summary)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx).start()
    yield Origin("https", "127.0.0.1", runner.addresses[0][1]), ca
    await runner.cleanup()


def test_read_ahead_is_set_on_the_context_and_only_there() -> None:
    context, other = ssl.create_default_context(), ssl.create_default_context()
    assert not reads_ahead(context)
    assert read_ahead(context, 64 * 1024)
    assert reads_ahead(context)
    assert not reads_ahead(other)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname  # verification as it was


def test_what_is_not_an_ssl_context_is_left_alone() -> None:
    assert not read_ahead(object())  # type: ignore[arg-type]
    assert not reads_ahead(object())  # type: ignore[arg-type]


def test_a_client_reads_ahead_unless_told_not_to() -> None:
    assert Client(ssl.create_default_context(), max_bytes=1 << 20).reads_ahead
    context = ssl.create_default_context()
    assert not Client(context, max_bytes=1 << 20, read_ahead=0).reads_ahead
    assert not reads_ahead(context)
    assert not Client(None, max_bytes=1 << 20).reads_ahead


@pytest.mark.parametrize("buffer", [1, 16 * 1024, 128 * 1024])  # 1: OpenSSL's own (smallest) read buffer
async def test_bodies_of_many_records_are_read_whole_on_one_kept_alive_connection(
        https: tuple[Origin, trustme.CA], buffer: int) -> None:
    origin, ca = https
    context = ssl.create_default_context()
    ca.configure_trust(context)
    client = Client(context, max_bytes=1 << 20, read_ahead=buffer)
    assert client.reads_ahead
    for _ in range(3):
        assert await client.get(origin, REQUEST) == Answer(200, BODY)
    assert client.connections_made == 1
    assert client.idle_connections() == 1
    client.close()
