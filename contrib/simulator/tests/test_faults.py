"""Kubelet and API faults, each confined to its node, observed with a real HTTP client (aiohttp)."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest

from heapster.testing.net import async_wait_until
from heapster_simulator import SimulatedCluster, SimulatorConfig


@pytest.fixture
async def cluster() -> AsyncIterator[SimulatedCluster]:
    settings = SimulatorConfig(nodes=4, pods_per_node=3, slow_seconds=3.0, huge_bytes=8 * 1024 * 1024)
    async with SimulatedCluster(settings) as running:
        yield running


def _ssl(cluster: SimulatedCluster) -> ssl.SSLContext:
    assert cluster.ca_path is not None
    return ssl.create_default_context(cafile=str(cluster.ca_path))


async def _get(session: aiohttp.ClientSession, cluster: SimulatedCluster, index: int, path: str = "/stats/summary",
               token: str | None = "cluster", timeout: float = 5.0) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {cluster.token if token == 'cluster' else token}"} if token else {}
    url = f"https://127.0.0.{2 + index}:{cluster.kubelet_port}{path}"
    async with session.get(url, headers=headers, ssl=_ssl(cluster),
                           timeout=aiohttp.ClientTimeout(total=timeout)) as response:
        return response.status, await response.read()


async def test_every_kubelet_serves_its_own_summary_over_https_with_token(cluster: SimulatedCluster) -> None:
    async with aiohttp.ClientSession() as session:
        for index, name in enumerate(cluster.nodes):
            status, body = await _get(session, cluster, index)
            assert status == 200
            summary = orjson.loads(body)
            assert summary["node"]["nodeName"] == name and len(summary["pods"]) == 3
            status, _ = await _get(session, cluster, index, "/stats/summary/")
            assert status == 200
        status, body = await _get(session, cluster, 0, token=None)
        assert status == 401
        status, body = await _get(session, cluster, 0, token="wrong")
        assert status == 401
        status, body = await _get(session, cluster, 1, "/pods")
        pods = orjson.loads(body)
        assert status == 200 and pods["kind"] == "PodList" and len(pods["items"]) == 3
        assert {p["spec"]["nodeName"] for p in pods["items"]} == {"sim-node-0001"}


async def test_the_serving_certificate_names_the_node_address(cluster: SimulatedCluster) -> None:
    context = _ssl(cluster)
    for index in (0, 3):
        _reader, writer = await asyncio.open_connection(f"127.0.0.{2 + index}", cluster.kubelet_port, ssl=context)
        certificate = writer.get_extra_info("peercert")
        writer.close()
        ips = {value for kind, value in certificate["subjectAltName"] if kind == "IP Address"}
        assert f"127.0.0.{2 + index}" in ips


async def test_each_fault_affects_only_its_node(cluster: SimulatedCluster) -> None:
    async with aiohttp.ClientSession() as session:
        cluster.set_fault("sim-node-0001", "error500")
        cluster.set_fault("sim-node-0002", "unauthorized")
        cluster.set_fault("sim-node-0003", "malformed")
        assert (await _get(session, cluster, 0))[0] == 200
        assert (await _get(session, cluster, 1))[0] == 500
        assert (await _get(session, cluster, 2))[0] == 401
        status, body = await _get(session, cluster, 3)
        assert status == 200
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(body)
        for name in cluster.nodes:
            cluster.set_fault(name, "none")
        for index in range(4):
            status, body = await _get(session, cluster, index)
            assert status == 200 and orjson.loads(body)["node"]["nodeName"] == cluster.nodes[index]


async def test_slow_kubelet_delays_only_itself(cluster: SimulatedCluster) -> None:
    cluster.set_fault("sim-node-0000", "slow")
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        slow = asyncio.ensure_future(_get(session, cluster, 0, timeout=0.5))
        status, _ = await _get(session, cluster, 1)
        assert status == 200 and time.monotonic() - started < 0.5
        with pytest.raises(TimeoutError):
            await slow
        cluster.set_fault("sim-node-0000", "none")
        assert (await _get(session, cluster, 0))[0] == 200


async def test_huge_payload_is_streamed(cluster: SimulatedCluster) -> None:
    cluster.set_fault("sim-node-0002", "huge")
    async with aiohttp.ClientSession() as session:
        status, body = await _get(session, cluster, 2)
        assert status == 200 and len(body) == 8 * 1024 * 1024
        assert body.startswith(b'{"node":{"nodeName":"sim-node-0002"')
        url = f"https://127.0.0.4:{cluster.kubelet_port}/stats/summary"  # a client that stops reading at a cap
        async with session.get(url, headers={"Authorization": f"Bearer {cluster.token}"},
                               ssl=_ssl(cluster)) as response:
            first = await response.content.read(1024 * 1024)
            assert len(first) > 0
            response.close()
        assert (await _get(session, cluster, 1))[0] == 200


async def test_huge_malformed_payload_is_streamed_and_not_json(cluster: SimulatedCluster) -> None:
    cluster.set_fault("sim-node-0002", "hugemalformed")
    try:
        async with aiohttp.ClientSession() as session:
            status, body = await _get(session, cluster, 2)
        assert status == 200 and len(body) > 8 * 1024 * 1024 - 16
        assert body.startswith(b'{"node":{"nodeName":"sim-node-0002"')
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(body)
    finally:
        cluster.set_fault("sim-node-0002", "none")


async def test_down_node_refuses_connections_until_cleared(cluster: SimulatedCluster) -> None:
    async with aiohttp.ClientSession() as session:
        assert (await _get(session, cluster, 1))[0] == 200  # leaves a kept-alive connection behind
        cluster.set_fault("sim-node-0001", "down")
        await cluster.settle()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.3", cluster.kubelet_port)
        with pytest.raises(aiohttp.ClientError):
            await _get(session, cluster, 1)
        assert (await _get(session, cluster, 2))[0] == 200
        cluster.set_fault("sim-node-0001", "none")
        await cluster.settle()
        assert (await _get(session, cluster, 1))[0] == 200


async def test_admin_endpoint_injects_faults_and_events(cluster: SimulatedCluster) -> None:
    async with aiohttp.ClientSession() as session:
        admin = f"{cluster.api_url}/simulator"
        async with session.post(f"{admin}/faults", json={"node": "sim-node-0003", "fault": "error500"}) as reply:
            assert reply.status == 200
        assert (await _get(session, cluster, 3))[0] == 500
        async with session.post(f"{admin}/faults", json={"node": "sim-node-0003", "fault": "bogus"}) as reply:
            assert reply.status == 400
        async with session.post(f"{admin}/faults", json={"node": "sim-node-9999", "fault": "slow"}) as reply:
            assert reply.status == 404
        async with session.post(f"{admin}/events", json={"count": 7}) as reply:
            assert (await reply.json())["created"] == 7
        async with session.post(f"{admin}/faults", json={"api": "expire"}) as reply:
            assert reply.status == 200
        async with session.get(f"{admin}/state") as reply:
            state = await reply.json()
        assert state["events"] == 7 and state["nodes"] == 4 and state["pods"] == 12
        assert state["faults"] == {"sim-node-0003": "error500"} and state["expired"] == 1
        async with session.get(f"{cluster.api_url}/api/v1/events?watch=1&resourceVersion=2") as reply:
            line = await reply.content.readline()
        event = orjson.loads(line)
        assert event["type"] == "ERROR" and event["object"]["code"] == 410
        assert event["object"]["reason"] == "Expired"


async def test_plain_http_kubelets_need_no_token() -> None:
    async with SimulatedCluster(SimulatorConfig(nodes=2, pods_per_node=1, kubelet_scheme="http")) as cluster, \
            aiohttp.ClientSession() as session:
        assert cluster.ca_path is None and cluster.token is None
        async with session.get(f"http://127.0.0.3:{cluster.kubelet_port}/stats/summary") as reply:
            assert reply.status == 200
            assert (await reply.json())["node"]["nodeName"] == "sim-node-0001"
        assert cluster.summary("sim-node-0001")["node"]["nodeName"] == "sim-node-0001"


async def test_prerendered_summaries_are_served_from_bytes_rendered_after_the_last_request() -> None:
    settings = SimulatorConfig(nodes=2, pods_per_node=3, prerender_summaries=True)
    async with SimulatedCluster(settings) as running, aiohttp.ClientSession() as session:
        assert running.sim is not None
        counts = running.sim.counts
        # Every node's first body is rendered at start, so a client's first round is served from bytes too.
        await async_wait_until(lambda: counts["summaries_prerendered"] >= 2, 10,
                               what="every node's first body rendered in the background")
        status, first = await _get(session, running, 1)
        assert status == 200 and counts["summaries_rendered_ahead"] == 1
        await async_wait_until(lambda: counts["summaries_prerendered"] >= 3, 10,
                               what="the next body rendered in the background")
        status, second = await _get(session, running, 1)
        assert status == 200 and counts["summaries_rendered_ahead"] == 2
        before, after = orjson.loads(first), orjson.loads(second)
        assert after["node"]["nodeName"] == "sim-node-0001" and len(after["pods"]) == 3
        assert after["node"]["cpu"]["time"] >= before["node"]["cpu"]["time"]
        assert after["node"]["cpu"]["usageCoreNanoSeconds"] >= before["node"]["cpu"]["usageCoreNanoSeconds"]
        status, _ = await _get(session, running, 1, token="wrong")  # faults and auth still come first
        assert status == 401
