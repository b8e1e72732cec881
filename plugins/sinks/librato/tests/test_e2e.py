"""heapster scraping the simulator and writing to the strict Librato API double: Heapster's names,
tags, batch timestamps and the Model API's values; the token stays out of heapster's log."""

from __future__ import annotations

from pathlib import Path

import pytest

from heapster.testing.net import PATIENCE, HttpServerThread, wait_until
from heapster_simulator.testing import alive, heapster_with_sinks, model_list, model_points
from heapster_sink_librato.testing import LibratoDouble

pytestmark = pytest.mark.e2e

NODES = ["sim-node-0000", "sim-node-0001"]


def test_heapster_posts_its_measurements(librato: LibratoDouble, librato_server: HttpServerThread,
                                         tmp_path: Path) -> None:
    sink = (f"librato:?username={librato.username}&token={librato.token}&api={librato_server.url}"
            "&prefix=k8s&tags=cluster&tag_cluster=staging")
    with heapster_with_sinks(tmp_path, [sink], nodes=2, pods_per_node=2, containers_per_pod=1) as daemon:
        def two_windows() -> bool:
            alive(daemon)
            return all(len(librato.find("k8s.cpu.usage_rate", type="node", nodename=n)) >= 2 for n in NODES)

        wait_until(two_windows, 2 * PATIENCE, 0.25, "two windows of node measurements")
        assert not librato.refused, librato.refused[:3]

        for node in NODES:
            for metric in ("memory/usage", "cpu/usage_rate"):
                stored = {m.time: m.value for m in librato.find("k8s." + metric.replace("/", "."), type="node",
                                                                  nodename=node)}
                served = model_points(daemon["url"], f"nodes/{node}/metrics/{metric}")
                common = set(stored) & set(served)
                assert common, (node, metric, stored, served)
                assert all(stored[t] == served[t] for t in common)

        assert all(m.tags["cluster"] == "staging" for m in librato.measurements)
        assert librato.find("k8s.memory.usage", type="cluster")
        for namespace in model_list(daemon["url"], "namespaces/"):
            assert librato.find("k8s.memory.usage", type="ns", namespace_name=namespace)
            for pod in model_list(daemon["url"], f"namespaces/{namespace}/pods/"):
                assert librato.find("k8s.memory.usage", type="pod", pod_name=pod)
                for container in model_list(daemon["url"], f"namespaces/{namespace}/pods/{pod}/containers/"):
                    assert librato.find("k8s.memory.usage", type="pod_container", pod_name=pod,
                                        container_name=container)
        assert any("resource_id" in m.tags for m in librato.find("k8s.filesystem.usage"))
    assert librato.token not in Path(daemon["log"]).read_text()
