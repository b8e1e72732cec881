"""The fan-out middleware against real peer HTTP servers on loopback: merging, timeouts, errors, no recursion."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from heapster.api.responses import error_response, json_response
from heapster.shards import LOCAL_HEADER, MISSING_HEADER
from heapster.shards.client import PeerClient
from heapster.shards.discovery import Peers, PeerService
from heapster.shards.fanout import fanout_middleware
from heapster.testing.net import PATIENCE
from heapster.testing.shards import StaticEndpointSlices

NODES = "/api/v1/model/nodes{_slash:/?}"
EXPORT = "/api/v1/metric-export{_slash:/?}"
NODE = "/apis/metrics.k8s.io/v1beta1/nodes/{node}{_slash:/?}"
NAMESPACES = "/api/v1/model/namespaces{_slash:/?}"
PEER_TIMEOUT = 2.0
"""Seconds a peer gets: what a held peer costs, ample for the others on a loaded machine (was 0.5 s)."""


def shard_app(index: int, seen: list[dict[str, Any]], status: int = 200,
              slow: dict[str, asyncio.Event | None] | None = None) -> web.Application:
    """A shard's API: node ``n<index>`` only; records the requests it gets; its export waits for ``slow["hold"]``
    to be set, when there is one."""

    async def nodes(request: web.Request) -> web.Response:
        seen.append({"shard": index, "path": request.path, "local": request.headers.get(LOCAL_HEADER)})
        if status != 200:
            return error_response(status, "broken")
        return json_response([f"n{index}"])

    async def export(request: web.Request) -> web.Response:
        hold = (slow or {}).get("hold")
        if hold is not None:
            await hold.wait()
        return json_response([{"labels": {"nodename": f"n{index}"}, "metrics": {}}], pretty=False)

    async def node(request: web.Request) -> web.Response:
        if request.match_info["node"] != f"n{index}":
            return error_response(404, "No metrics for node")
        return json_response({"kind": "NodeMetrics", "metadata": {"name": f"n{index}"}})

    async def namespaces(request: web.Request) -> web.Response:
        return json_response(["default"])

    app = web.Application()
    for path, handler in ((NODES, nodes), (EXPORT, export), (NODE, node), (NAMESPACES, namespaces)):
        app.router.add_get(path, handler)
    return app


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


@pytest.fixture
async def shards() -> AsyncIterator[dict[str, Any]]:
    """Shard 0 (with the middleware) of four: 1 answers (its export slow on demand), 2 answers but fails its node
    list with 500, 3 has no endpoint."""
    seen: list[dict[str, Any]] = []
    slices = StaticEndpointSlices()
    runners = []
    peers = Peers(0, 4, slices, PeerService("ns", "heapster"))
    client = PeerClient(timeout=PEER_TIMEOUT)
    missing_aggregates: dict[int, str] = {}
    local = shard_app(0, seen)
    local.middlewares.append(fanout_middleware(peers, client, lambda: missing_aggregates))
    slow: dict[str, asyncio.Event | None] = {"hold": None}
    for index, app in ((0, local), (1, shard_app(1, seen, slow=slow)), (2, shard_app(2, seen, status=500))):
        runner, port = await serve(app)
        runners.append(runner)
        slices.add(f"heapster-{index}", port)
    session = aiohttp.ClientSession()
    url = f"http://127.0.0.1:{runners[0].addresses[0][1]}"
    try:
        yield {"url": url, "seen": seen, "session": session, "slow": slow, "aggregates": missing_aggregates}
    finally:
        await session.close()
        await client.close()
        for runner in runners:
            await runner.cleanup()


async def fetch(shards: dict[str, Any], path: str, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    async with shards["session"].get(shards["url"] + path, headers=headers or {}) as resp:
        if resp.content_type != "application/json":
            return resp.status, resp.headers, await resp.text()
        return resp.status, resp.headers, await resp.json()


async def test_lists_merge_and_name_the_shards_that_did_not_answer(shards: dict[str, Any]) -> None:
    status, headers, body = await fetch(shards, "/api/v1/model/nodes/")
    assert status == 200 and body == ["n0", "n1"]
    assert headers[MISSING_HEADER] == "2,3"  # 2 answered 500, 3 has no ready endpoint
    forwarded = [s for s in shards["seen"] if s["shard"] != 0]
    assert forwarded and all(s["local"] == "1" for s in forwarded)  # peers are asked to answer for themselves


async def test_a_request_marked_local_is_not_fanned_out(shards: dict[str, Any]) -> None:
    status, headers, body = await fetch(shards, "/api/v1/model/nodes/", {LOCAL_HEADER: "1"})
    assert (status, body) == (200, ["n0"]) and MISSING_HEADER not in headers
    assert [s["shard"] for s in shards["seen"]] == [0]


async def test_a_slow_peer_costs_the_timeout_and_is_named(shards: dict[str, Any]) -> None:
    hold = shards["slow"]["hold"] = asyncio.Event()
    # Shard 1 never answers until released: the answer comes at all only through the peer timeout.
    status, headers, body = await asyncio.wait_for(fetch(shards, "/api/v1/metric-export"), PATIENCE)
    hold.set()
    assert status == 200 and [s["labels"]["nodename"] for s in body] == ["n0", "n2"]
    assert headers[MISSING_HEADER] == "1,3"
    shards["slow"]["hold"] = None
    status, headers, body = await fetch(shards, "/api/v1/metric-export")
    assert [s["labels"]["nodename"] for s in body] == ["n0", "n1", "n2"] and headers[MISSING_HEADER] == "3"


async def test_one_object_comes_from_the_shard_that_has_it(shards: dict[str, Any]) -> None:
    status, headers, body = await fetch(shards, "/apis/metrics.k8s.io/v1beta1/nodes/n1")
    assert status == 200 and body["metadata"]["name"] == "n1" and MISSING_HEADER not in headers
    status, headers, _ = await fetch(shards, "/apis/metrics.k8s.io/v1beta1/nodes/n0")
    assert status == 200 and MISSING_HEADER not in headers  # found here: no peer asked
    status, headers, _ = await fetch(shards, "/apis/metrics.k8s.io/v1beta1/nodes/n9")
    assert status == 404 and headers[MISSING_HEADER] == "3"  # 1 and 2 answered 404; 3 could have had it


async def test_aggregate_routes_answer_locally_and_name_shards_missing_from_the_aggregates(
        shards: dict[str, Any]) -> None:
    status, headers, body = await fetch(shards, "/api/v1/model/namespaces/")
    assert (status, body) == (200, ["default"]) and MISSING_HEADER not in headers
    assert shards["seen"] == []
    shards["aggregates"][1] = "no answer within 5s"
    _, headers, _ = await fetch(shards, "/api/v1/model/namespaces/")
    assert headers[MISSING_HEADER] == "1"
