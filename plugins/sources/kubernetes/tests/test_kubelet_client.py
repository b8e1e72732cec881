"""KubeletClient (on heapster.http1.Client) against a real aiohttp server over HTTPS with a trustme certificate."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import trustme
from aiohttp import web

from heapster.testing.fixtures import FIXTURES
from heapster_source_kubernetes.kubelet import KubeletClient, KubeletSettings, KubeletTarget, ScrapeError

BODY = (FIXTURES / "kubelet-stats-summary-v1.35.json").read_bytes()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Serve = Callable[[Handler], Awaitable[tuple[KubeletTarget, ssl.SSLContext]]]


@pytest.fixture
async def kubelet(http_server: Any) -> AsyncIterator[Serve]:
    """``await kubelet(handler)`` -> (a target on it, a client TLS context trusting it)."""
    ca = trustme.CA()
    runners: list[web.AppRunner] = []

    async def serve(handler: Handler) -> tuple[KubeletTarget, ssl.SSLContext]:
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
        runner, port = await http_server(handler, ssl_context=server_ctx)
        runners.append(runner)
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        return KubeletTarget("node-a", "node-a", "", "127.0.0.1", port, "https"), client_ctx

    yield serve
    for runner in runners:
        await runner.cleanup()


async def test_the_kubelet_client_reports_a_slow_kubelet_as_a_timeout(kubelet: Serve) -> None:
    async def stuck(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(30)  # a kubelet too slow to answer: the behaviour under test
        return web.Response(body=BODY)

    target, ctx = await kubelet(stuck)
    kubelets = KubeletClient(KubeletSettings(timeout=0.3), ssl_context=ctx, token=lambda: "t")
    with pytest.raises(ScrapeError, match=r"timed out after 0\.3s") as info:
        await kubelets.get_summary(target)
    assert info.value.reason == "timeout"
    await kubelets.close()


async def test_the_kubelet_client_sends_the_token_over_https_only(kubelet: Serve) -> None:
    seen: list[str | None] = []

    async def record(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization"))
        return web.Response(body=BODY)

    target, ctx = await kubelet(record)
    kubelets = KubeletClient(KubeletSettings(), ssl_context=ctx, token=lambda: "sekret")
    assert await kubelets.get_summary(target) == BODY
    assert seen == ["Bearer sekret"]
    assert kubelets.idle_connections() == 1
    await kubelets.close()


async def test_each_request_carries_the_current_token_and_the_nodes_current_target(kubelet: Serve) -> None:
    """Requests are reused per node only while its target object and the token stay the same."""
    seen: list[tuple[str, str | None]] = []

    def recorder(name: str) -> Handler:
        async def record(request: web.Request) -> web.StreamResponse:
            seen.append((name, request.headers.get("Authorization")))
            return web.Response(body=BODY)

        return record

    first, ctx = await kubelet(recorder("first"))
    second, _ = await kubelet(recorder("second"))
    tokens = iter(["one", "one", "two"])
    kubelets = KubeletClient(KubeletSettings(), ssl_context=ctx, token=lambda: next(tokens, "three"))
    for _ in range(3):
        assert await kubelets.get_summary(first) == BODY
    moved = KubeletTarget(first.node, first.hostname, "", second.address, second.port, "https")  # same node
    assert await kubelets.get_summary(moved) == BODY
    assert seen == [("first", "Bearer one"), ("first", "Bearer one"), ("first", "Bearer two"),
                    ("second", "Bearer three")]
    await kubelets.close()
