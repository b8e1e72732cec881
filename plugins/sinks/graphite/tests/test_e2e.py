"""heapster scraping the simulator and writing to a real carbon-cache: Heapster's paths, the batch
timestamps and the same values the Model API serves."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from heapster.testing.net import PATIENCE, wait_until
from heapster_simulator.testing import alive, heapster_with_sinks, model_list, model_points
from heapster_sink_graphite.testing import CarbonServer

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("protocol", ["tcp"])
def test_heapster_writes_its_hierarchy_to_carbon(carbon: CarbonServer, tmp_path: Path, protocol: str) -> None:
    prefix = f"e2e{uuid.uuid4().hex[:8]}"
    port = carbon.line_port if protocol == "tcp" else carbon.udp_port
    sink = f"graphite:{protocol}://127.0.0.1:{port}?prefix={prefix}"
    with heapster_with_sinks(tmp_path, [sink], nodes=2, pods_per_node=2, containers_per_pod=1) as daemon:
        nodes = ["sim-node-0000", "sim-node-0001"]

        def two_windows_stored() -> bool:
            alive(daemon)
            return all(len(carbon.series(f"{prefix}.nodes.{n}.memory.usage")) >= 2 for n in nodes)

        wait_until(two_windows_stored, 2 * PATIENCE, 0.25, "two windows of node metrics in carbon")

        # Values and timestamps: what carbon stored equals what heapster's Model API serves.
        for node in nodes:
            for metric in ("memory/usage", "cpu/usage_rate"):
                stored = carbon.series(f"{prefix}.nodes.{node}.{metric.replace('/', '.')}")
                served = model_points(daemon["url"], f"nodes/{node}/metrics/{metric}")
                common = set(stored) & set(served)
                assert common, f"no common timestamp for {node} {metric}: {stored} vs {served}"
                assert all(stored[t] == served[t] for t in common)

        # Every level of Heapster's hierarchy, named after the simulator's objects.
        names = set(carbon.metrics(prefix))
        assert f"{prefix}.cluster.memory.usage" in names
        namespaces = model_list(daemon["url"], "namespaces/")
        assert namespaces
        for namespace in namespaces:
            assert f"{prefix}.namespaces.{namespace}.memory.usage" in names
            for pod in model_list(daemon["url"], f"namespaces/{namespace}/pods/"):
                pod_paths = [n for n in names if f".pods.{namespace}.{pod.replace('.', '_')}." in n]
                assert any(n.endswith(".network.rx") for n in pod_paths), pod
                for container in model_list(daemon["url"], f"namespaces/{namespace}/pods/{pod}/containers/"):
                    assert any(f".containers.{container}.memory.usage" in n for n in pod_paths), container
        assert any(".sys-containers.kubelet." in n for n in names)
        assert any(n.startswith(f"{prefix}.nodes.{nodes[0]}.filesystem.") for n in names)
