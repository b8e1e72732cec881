"""A kept-alive kubelet connection holds no TLS read buffer between scrapes (heapster.memory.TLS_READ_BUFFER)."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import trustme
from aiohttp import web

from heapster.memory import TLS_READ_BUFFER, shrink_tls_read_buffers
from heapster.testing.fixtures import FIXTURES
from heapster_source_kubernetes.kubelet import KubeletClient, KubeletSettings, KubeletTarget

BODY = (FIXTURES / "kubelet-stats-summary-v1.35.json").read_bytes()


def _ssl_protocols(client: KubeletClient) -> list[Any]:
    """The asyncio TLS protocol of every pooled (idle) connection of ``client``."""
    session, _ = client._pools[asyncio.get_running_loop()]
    connections = [proto for pooled in session.connector._conns.values()  # type: ignore[union-attr]
                   for proto, _ in pooled]
    return [proto.transport._ssl_protocol for proto in connections]


async def test_idle_connection_keeps_no_read_buffer_and_is_reused(http_server: Any) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    served: list[int] = []

    async def summary(request: web.Request) -> web.Response:
        served.append(id(request.transport))
        return web.Response(body=BODY, content_type="application/json")

    runner, port = await http_server(summary, "127.0.0.1", ssl_context=server_ctx)
    shrink_tls_read_buffers()
    client = KubeletClient(KubeletSettings(port=port), ssl_context=client_ctx)
    target = KubeletTarget("node-1", "node-1", "", "127.0.0.1", port, "https")
    try:
        for _ in range(3):
            assert await client.get_summary(target) == BODY  # > TLS_READ_BUFFER: read in several steps
            (protocol,) = _ssl_protocols(client)  # one kept-alive connection, back in the pool
            assert protocol.max_size == TLS_READ_BUFFER
            assert len(protocol._ssl_buffer) == 0
        assert len(BODY) > 2 * TLS_READ_BUFFER
        assert len(set(served)) == 1  # the same connection served all three
    finally:
        await client.close()
        await runner.cleanup()
