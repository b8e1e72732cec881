"""End to end: the fixture kubelet summary, decoded by the Kubernetes source, through the processor chain
and the store, served over HTTP and read by the real ``kubernetes`` client and by ``kubectl top``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from heapster.api import create_api_app, start_api_server
from heapster.interfaces import PluginContext
from heapster.model import DataBatch
from heapster.plugins import load_plugins
from heapster.store import MetricStore
from heapster.testing import FakeClock
from heapster.testing.cluster import StaticCluster
from heapster.testing.fixtures import FIXTURES, pod_of, shifted
from heapster.timefmt import parse_rfc3339
from heapster_source_kubernetes.summary import NodeInfo, decode_summary

pytestmark = pytest.mark.e2e

NODE = "datagen-1-35"
STAMP = parse_rfc3339("2026-06-26T10:15:00Z")


@pytest.fixture
async def server() -> AsyncIterator[str]:
    cluster = StaticCluster.from_yaml(FIXTURES / "nodes-v1.35-kubectl-list.yaml",
                                      FIXTURES / "pods-v1.35-kubectl-list.yaml")
    first = json.loads((FIXTURES / "kubelet-stats-summary-v1.35.json").read_text())
    second = shifted(first, 60)
    second["node"]["cpu"]["usageCoreNanoSeconds"] += 30_000_000_000          # 500m
    coredns = pod_of(second, "coredns")["containers"][0]
    coredns["cpu"]["usageCoreNanoSeconds"] += 1_234_567_890                   # 20m (20.58 truncated)
    kindnet = pod_of(second, "kindnet")["containers"][0]
    kindnet["cpu"]["usageCoreNanoSeconds"] += 3_000_000_000                   # 50m
    chain = load_plugins().build_processors(PluginContext(settings={}, cluster=cluster))
    store = MetricStore()
    for minute, summary in enumerate((first, second)):
        stamp = STAMP + timedelta(minutes=minute)
        batch = DataBatch(stamp, decode_summary(summary, NodeInfo(NODE, NODE), stamp.timestamp()))
        for processor in chain:
            batch = await processor.process(batch)
        await store.export(batch)
    clock = FakeClock((STAMP + timedelta(minutes=1, seconds=20)).timestamp())
    settings = {"listen_ip": "127.0.0.1", "heapster_port": 0, "metric_resolution": 60.0}
    runner = await start_api_server(create_api_app(store, cluster, settings, clock=clock), settings)
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


def quantity(text: str) -> Decimal:
    """The kubernetes client's own quantity parser."""
    from kubernetes.utils import parse_quantity

    parsed: Decimal = parse_quantity(text)  # type: ignore[no-untyped-call]
    return parsed


async def test_v1beta1_read_by_the_kubernetes_client(server: str) -> None:
    """The client's discovery models and CustomObjects calls accept every answer."""
    from kubernetes import client

    api_client = client.ApiClient(client.Configuration(host=server))

    def read() -> dict[str, Any]:
        custom = client.CustomObjectsApi(api_client)
        return {
            "groups": client.ApisApi(api_client).get_api_versions(),
            "resources": custom.get_api_resources("metrics.k8s.io", "v1beta1"),
            "nodes": custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes"),
            "node": custom.get_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes", NODE),
            "pods": custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", "kube-system", "pods"),
            "pod": custom.get_namespaced_custom_object("metrics.k8s.io", "v1beta1", "kube-system", "pods",
                                                       "coredns-7d764666f9-qdcxt"),
            "selected": custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "pods",
                                                          label_selector="app=deployment"),
        }

    got = await asyncio.to_thread(read)
    api_client.close()  # type: ignore[no-untyped-call]
    group = got["groups"].groups[0]
    assert isinstance(got["groups"], client.V1APIGroupList) and group.name == "metrics.k8s.io"
    assert group.preferred_version.group_version == "metrics.k8s.io/v1beta1"
    assert isinstance(got["resources"], client.V1APIResourceList)
    assert {(r.name, r.kind, r.namespaced) for r in got["resources"].resources} == {
        ("nodes", "NodeMetrics", False), ("pods", "PodMetrics", True)}
    node = got["node"]
    assert node["kind"] == "NodeMetrics" and node["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert node["window"] == "1m0s" and node["timestamp"] == "2026-06-26T10:16:00Z"
    assert node["usage"] == {"cpu": "500m", "memory": "895616Ki"}   # workingSetBytes 917110784 = 895616 KiB
    meta = api_client.deserialize(json.dumps(node["metadata"]), "V1ObjectMeta", "application/json")
    assert meta.name == NODE and meta.labels["kubernetes.io/hostname"] == NODE
    api_client.deserialize(json.dumps(got["nodes"]["metadata"]), "V1ListMeta", "application/json")
    assert got["nodes"]["kind"] == "NodeMetricsList" and len(got["nodes"]["items"]) == 1
    pod = got["pod"]
    assert pod["kind"] == "PodMetrics"
    assert pod["containers"] == [{"name": "coredns", "usage": {"cpu": "20m", "memory": "15852Ki"}}]
    assert quantity(pod["containers"][0]["usage"]["memory"]) == 16232448
    names = [p["metadata"]["name"] for p in got["pods"]["items"]]
    assert "kindnet-zkpn8" in names and len(names) == 9     # every kube-system pod of the summary
    kindnet = next(p for p in got["pods"]["items"] if p["metadata"]["name"] == "kindnet-zkpn8")
    assert quantity(kindnet["containers"][0]["usage"]["cpu"]) == Decimal("0.05")
    assert sorted(p["metadata"]["name"] for p in got["selected"]["items"]) == [
        "e2e-deployment-79967c5968-8bnn8", "e2e-deployment-79967c5968-zjslc"]


async def kubectl(url: str, tmp_path: Path, *args: str) -> list[list[str]]:
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: h\n"
        f"clusters: [{{name: h, cluster: {{server: '{url}'}}}}]\n"
        "contexts: [{name: h, context: {cluster: h, user: u}}]\nusers: [{name: u, user: {}}]\n")
    process = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(config), "--request-timeout=10s", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    return [line.split() for line in out.decode().splitlines() if line.strip()]


async def test_kubectl_top(server: str, tmp_path: Path) -> None:
    pods = await kubectl(server, tmp_path, "top", "pod", "-n", "kube-system", "--sort-by=cpu")
    assert pods[0] == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert pods[1] == ["kindnet-zkpn8", "50m", "13Mi"]            # 13955072 B working set
    assert pods[2] == ["coredns-7d764666f9-qdcxt", "20m", "15Mi"]
    nodes = await kubectl(server, tmp_path, "top", "node")
    assert nodes[0] in (["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"],  # kubectl 1.2x+
                        ["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"])        # Debian's 1.20
    # 500m of 14 allocatable cores = 3%; 874Mi working set of 8024304Ki allocatable = 11%
    assert nodes[1] == [NODE, "500m", "3%", "874Mi", "11%"]


async def test_model_api_over_decoded_summaries(server: str) -> None:
    """Requests, aggregates and node ratios from the decoder's sets match the hand-computed golden values."""
    import aiohttp

    mi = 1024 * 1024
    async with aiohttp.ClientSession() as session:
        async def latest(path: str) -> Any:
            async with session.get(server + "/api/v1/model" + path) as response:
                assert response.status == 200, path
                return (await response.json())["metrics"][-1]["value"]

        assert await latest("/metrics/cpu/request") == 1350
        assert await latest("/metrics/memory/limit") == 370 * mi
        assert await latest("/namespaces/kube-system/metrics/memory/request") == 420 * mi
        assert await latest(f"/nodes/{NODE}/metrics/cpu/usage_rate") == 500
        assert await latest(f"/nodes/{NODE}/metrics/cpu/node_reservation") == 1350 / 14000
        assert await latest(f"/nodes/{NODE}/metrics/memory/node_utilization") == 3080323072 / (8024304 * 1024)
        assert await latest("/namespaces/kube-system/pods/coredns-7d764666f9-qdcxt/containers/coredns/metrics/"
                            "cpu/usage_rate") == 20
        assert await latest("/namespaces/kube-system/pods/coredns-7d764666f9-qdcxt/metrics/memory/limit") == 170 * mi
