"""heapster scraping the simulator and writing to the strict OpenTSDB double: Heapster's metric names,
tags, the batch timestamps and the values the Model API serves."""

from __future__ import annotations

from pathlib import Path

import pytest

from heapster.testing.net import PATIENCE, HttpServerThread, wait_until
from heapster_simulator.testing import alive, heapster_with_sinks, model_list, model_points
from heapster_sink_opentsdb.testing import OpentsdbDouble

pytestmark = pytest.mark.e2e

NODES = ["sim-node-0000", "sim-node-0001"]


def test_heapster_puts_its_points(tsdb: OpentsdbDouble, tsdb_server: HttpServerThread, tmp_path: Path) -> None:
    sink = f"opentsdb:http://127.0.0.1:{tsdb_server.port}?cluster=e2e-cluster"
    with heapster_with_sinks(tmp_path, [sink], nodes=2, pods_per_node=2, containers_per_pod=1) as daemon:
        def two_windows() -> bool:
            alive(daemon)
            return all(len(tsdb.find("cpu_usage_rate_gauge", type="node", hostname=n)) >= 2 for n in NODES)

        wait_until(two_windows, 2 * PATIENCE, 0.25, "two windows of node points")
        log = Path(daemon["log"]).read_text()
        assert "sink.export.dropped" not in log, log[-3000:]

        for node in NODES:
            for metric, name in (("memory/usage", "memory_usage_gauge"), ("cpu/usage_rate", "cpu_usage_rate_gauge")):
                stored = {p.timestamp: p.value for p in tsdb.find(name, type="node", hostname=node)}
                served = model_points(daemon["url"], f"nodes/{node}/metrics/{metric}")
                common = set(stored) & set(served)
                assert common, (node, metric, stored, served)
                assert all(stored[t] == served[t] for t in common)

        assert all(dict(p.tags)["cluster"] == "e2e-cluster" for p in tsdb.points)
        assert tsdb.find("cpu_usage_cumulative", type="node", hostname=NODES[0])
        assert tsdb.find("memory_usage_gauge", type="cluster")
        for namespace in model_list(daemon["url"], "namespaces/"):
            assert tsdb.find("memory_usage_gauge", type="ns", namespace_name=namespace)
            for pod in model_list(daemon["url"], f"namespaces/{namespace}/pods/"):
                assert tsdb.find("memory_usage_gauge", type="pod", namespace_name=namespace, pod_name=pod)
                for container in model_list(daemon["url"], f"namespaces/{namespace}/pods/{pod}/containers/"):
                    assert tsdb.find("memory_usage_gauge", type="pod_container", pod_name=pod,
                                     container_name=container)
        assert not any(p.metric.startswith("filesystem_") for p in tsdb.points)  # Heapster skipped labeled metrics
