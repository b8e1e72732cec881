"""heapster scraping the simulator and writing to the strict Wavefront proxy double (with the compat
line's options): Heapster's names, sources, tags, batch timestamps and the Model API's values."""

from __future__ import annotations

from pathlib import Path

import pytest

from heapster.testing.net import wait_until
from heapster_simulator.testing import alive, heapster_with_sinks, model_list, model_points
from heapster_sink_wavefront.testing import WavefrontProxyDouble

pytestmark = pytest.mark.e2e

NODES = ["sim-node-0000", "sim-node-0001"]


def test_heapster_sends_its_lines(proxy: WavefrontProxyDouble, tmp_path: Path) -> None:
    sink = f"wavefront:localhost:{proxy.port}?clusterName=e2e-cluster&includeLabels=true"
    with heapster_with_sinks(tmp_path, [sink], nodes=2, pods_per_node=2, containers_per_pod=1) as daemon:
        def two_windows() -> bool:
            alive(daemon)
            return all(len([p for p in proxy.find("heapster.node.cpu.usage_rate") if p.source == n]) >= 2
                       for n in NODES)

        wait_until(two_windows, 60.0, 0.25, "two windows of node points")
        assert not proxy.rejected, proxy.rejected[:3]

        for node in NODES:
            for metric in ("memory/usage", "cpu/usage_rate"):
                name = "heapster.node." + metric.replace("/", ".")
                stored = {p.timestamp: p.value for p in proxy.find(name, nodename=node)}
                served = model_points(daemon["url"], f"nodes/{node}/metrics/{metric}")
                common = set(stored) & set(served)
                assert common, (node, metric, stored, served)
                assert all(stored[t] == pytest.approx(served[t], abs=5e-7) for t in common)

        assert all(p.tags["cluster"] == "e2e-cluster" for p in proxy.points)
        assert {p.source for p in proxy.find("heapster.cluster.memory.usage")} == {"e2e-cluster"}
        node_point = proxy.find("heapster.node.memory.usage", nodename=NODES[0])[0]
        assert node_point.tags["label.kubernetes.io-hostname"] == NODES[0]  # includeLabels
        assert "hostname" not in node_point.tags and "host_id" not in node_point.tags
        for namespace in model_list(daemon["url"], "namespaces/"):
            assert {p.source for p in proxy.find("heapster.ns.memory.usage", namespace_name=namespace)} == \
                {f"{namespace}-ns"}
            for pod in model_list(daemon["url"], f"namespaces/{namespace}/pods/"):
                assert proxy.find("heapster.pod.memory.usage", namespace_name=namespace, pod_name=pod)
                for container in model_list(daemon["url"], f"namespaces/{namespace}/pods/{pod}/containers/"):
                    assert proxy.find("heapster.pod_container.memory.usage", pod_name=pod, container_name=container)
        assert any("resource_id" in p.tags for p in proxy.find("heapster.node.filesystem.usage"))
