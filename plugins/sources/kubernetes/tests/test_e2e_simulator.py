"""End to end against the cluster simulator running as a real subprocess (HTTPS API with a token,
HTTPS kubelets on 127.0.0.2...): the source finds every node, pod and container; faults stay per node;
the caches survive dropped watches and expired resourceVersions.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from heapster.interfaces import PluginContext
from heapster.model import MetricSet
from heapster.plugins import load_plugins
from heapster.testing.net import PATIENCE, async_poll_until, async_wait_until
from heapster.timefmt import utc_from_epoch
from heapster_simulator.testing import simulator_process
from heapster_source_kubernetes.kubelet import ScrapeError
from heapster_source_kubernetes.source import KubernetesSource

pytestmark = pytest.mark.e2e

NODES = 8
PODS_PER_NODE = 4
CONTAINERS_PER_POD = 2
# Far from both a healthy kubelet's answer from the simulator (a Python process rendering the summaries, which
# a loaded 2-core machine can slow past 1 s) and the slow fault's 60 s, and not the source's 10 s default.
TIMEOUT = 5.0


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("sim")
    with simulator_process(tmp, nodes=NODES, pods_per_node=PODS_PER_NODE, containers_per_pod=CONTAINERS_PER_POD,
                           api_scheme="https", token="e2e-token", huge_bytes=20_000_000) as ready:
        ready["kubeconfig_path"] = tmp / "simulator" / "kubeconfig"
        yield ready


def _api_pods_and_nodes(kubeconfig: Path) -> tuple[list[Any], list[Any]]:
    """What the API says, read with the ``kubernetes`` client itself."""
    from kubernetes import client, config

    new_client: Any = config.new_client_from_config
    api_client = new_client(config_file=str(kubeconfig))
    try:
        core = client.CoreV1Api(api_client)
        return core.list_pod_for_all_namespaces().items, core.list_node().items
    finally:
        api_client.close()


def _source(simulator: dict[str, Any], extra: str = "") -> KubernetesSource:
    spec = (f"kubernetes.summary_api:?inClusterConfig=false&auth={simulator['kubeconfig_path']}"
            f"&kubeletTimeout={TIMEOUT}s{extra}")
    source = load_plugins().build_metric_source(spec, PluginContext())
    assert isinstance(source, KubernetesSource)
    return source


async def _scrape(source: KubernetesSource) -> tuple[dict[str, MetricSet], dict[str, BaseException]]:
    units = await source.scrape_units()
    now = time.time()
    results = await asyncio.gather(*(u.scrape(utc_from_epoch(now - 60), utc_from_epoch(now)) for u in units),
                                   return_exceptions=True)
    batch: dict[str, MetricSet] = {}
    failures: dict[str, BaseException] = {}
    for unit, result in zip(units, results, strict=True):
        if isinstance(result, BaseException):
            failures[unit.node] = result
        else:
            batch.update(result.to_metric_sets())
    return batch, failures


async def _admin(simulator: dict[str, Any], body: dict[str, Any], path: str = "faults") -> None:
    ctx = ssl.create_default_context(cafile=simulator["ca"])
    async with aiohttp.ClientSession() as session, \
            session.post(f"{simulator['admin']}/{path}", json=body, ssl=ctx) as resp:
        assert resp.status == 200, await resp.text()


_until = functools.partial(async_wait_until, timeout=PATIENCE, interval=0.05)


async def caches_match(matches_api: Callable[[], Awaitable[bool]], within: float = PATIENCE) -> None:
    """Poll ``matches_api()`` (the caches hold what the API server lists) until it holds; fail after ``within`` s."""
    await async_poll_until(matches_api, within, what="the caches to hold what the API server lists")


async def test_source_finds_every_node_pod_and_container(simulator: dict[str, Any]) -> None:
    pods, nodes = await asyncio.to_thread(_api_pods_and_nodes, simulator["kubeconfig_path"])
    assert len(nodes) == NODES and len(pods) == NODES * PODS_PER_NODE
    source = _source(simulator)
    await source.start()
    try:
        batch, failures = await _scrape(source)
        assert failures == {}
        for node in nodes:
            node_set = batch[f"node:{node.metadata.name}"]
            assert node_set.labels["nodename"] == node.metadata.name
            assert node_set.values["cpu/usage"].value > 0
        for pod in pods:
            ns, name = pod.metadata.namespace, pod.metadata.name
            pod_set = batch[f"namespace:{ns}/pod:{name}"]
            assert pod_set.labels["pod_id"] == pod.metadata.uid
            assert pod_set.labels["nodename"] == pod.spec.node_name
            for container in pod.spec.containers:
                c = batch[f"namespace:{ns}/pod:{name}/container:{container.name}"]
                assert c.labels["container_name"] == container.name
                assert "cpu/usage" in c.values and "memory/working_set" in c.values
        pod_sets = [k for k, m in batch.items() if m.type == "pod"]
        container_sets = [k for k, m in batch.items() if m.type == "pod_container"]
        assert len(pod_sets) == len(pods)
        assert len(container_sets) == len(pods) * CONTAINERS_PER_POD
        # The shared cluster state holds the same pods the API lists.
        cluster = source.cluster
        assert cluster is not None
        assert {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in cluster.list_pods()} == \
            {(p.metadata.namespace, p.metadata.name) for p in pods}
    finally:
        await source.close()


async def test_each_injected_fault_affects_only_its_node(simulator: dict[str, Any]) -> None:
    faults = {"sim-node-0001": "slow", "sim-node-0002": "error500", "sim-node-0003": "unauthorized",
              "sim-node-0004": "malformed", "sim-node-0005": "huge", "sim-node-0006": "notready",
              "sim-node-0007": "down"}
    source = _source(simulator, "&kubeletMaxBytes=4000000")
    await source.start()
    try:
        for node, kind in faults.items():
            await _admin(simulator, {"node": node, "fault": kind})
        cluster = source.kubernetes_cluster

        def not_ready_seen() -> bool:
            node = cluster.get_node("sim-node-0006") or {}
            return any(c.get("type") == "Ready" and c.get("status") != "True"
                       for c in node.get("status", {}).get("conditions", []))

        await _until(not_ready_seen)
        batch, failures = await _scrape(source)
        reasons = {node: exc.reason for node, exc in failures.items() if isinstance(exc, ScrapeError)}
        assert reasons == {"sim-node-0001": "timeout", "sim-node-0002": "http_500", "sim-node-0003": "http_401",
                           "sim-node-0004": "malformed", "sim-node-0005": "too_large",
                           "sim-node-0006": "not_ready", "sim-node-0007": "connect"}
        # the slow kubelet (60 s) was cut at the source's kubeletTimeout, not at the 10 s default
        assert f"timed out after {TIMEOUT:g}s" in str(failures["sim-node-0001"])
        healthy = [k for k, m in batch.items() if m.labels.get("nodename") == "sim-node-0000"]
        assert len(healthy) == 1 + 4 + PODS_PER_NODE * (1 + CONTAINERS_PER_POD)  # node, 4 system containers, pods
        assert {m.labels.get("nodename") for m in batch.values()} == {"sim-node-0000"}
    finally:
        for node in faults:
            await _admin(simulator, {"node": node, "fault": "none"})
        await source.close()


async def test_caches_follow_churn_through_dropped_watches_and_expiry(simulator: dict[str, Any]) -> None:
    source = _source(simulator)
    await source.start()
    cluster = source.kubernetes_cluster
    try:
        async def matches_api() -> bool:
            pods, _ = await asyncio.to_thread(_api_pods_and_nodes, simulator["kubeconfig_path"])
            return {p.metadata.uid for p in pods} == {p["metadata"]["uid"] for p in cluster.list_pods()}

        await _admin(simulator, {"api": "drop-watch"})
        await _admin(simulator, {"count": 3}, "churn")
        await caches_match(matches_api)
        assert cluster.pods.lists == 1  # a dropped watch resumes; no relist

        await _admin(simulator, {"api": "expire"})
        await _admin(simulator, {"api": "drop-watch"})
        await _admin(simulator, {"count": 2}, "churn")
        await _until(lambda: cluster.pods.lists >= 2)
        await caches_match(matches_api)
        batch, failures = await _scrape(source)
        assert failures == {}
        assert len([m for m in batch.values() if m.type == "pod"]) == NODES * PODS_PER_NODE
    finally:
        await source.close()
