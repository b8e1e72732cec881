"""heapster scraping the simulator and sending to Etsy's statsd daemon: Heapster's names, the Model
API's values, nothing the daemon calls a bad line."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from heapster.testing.net import PATIENCE, wait_until
from heapster_simulator.testing import alive, heapster_with_sinks, model_list, model_points
from heapster_sink_statsd.testing import StatsdDaemon

pytestmark = pytest.mark.e2e

NODES = ["sim-node-0000", "sim-node-0001"]


def _node_values(lines: list[str], prefix: str, node: str, metric: str) -> list[float]:
    """Values of a node-level gauge; its name carries the node's labels between host and metric."""
    values = []
    for line in lines:
        key, value = line.rsplit(":", 1)
        if (key.startswith(f"{prefix}.node.{node}.") and key.endswith(f".{metric}")
                and ".namespace." not in key and ".sys-container." not in key):
            values.append(float(value.removesuffix("|g")))
    return values


def test_heapster_sends_etsystatsd_gauges(statsd: StatsdDaemon, tmp_path: Path) -> None:
    prefix = f"e2e{uuid.uuid4().hex[:8]}"
    sink = f"statsd:udp://127.0.0.1:{statsd.port}?prefix={prefix}&numMetricsPerMsg=20"
    with heapster_with_sinks(tmp_path, [sink], nodes=2, pods_per_node=2, containers_per_pod=1) as daemon:
        def two_windows() -> list[str]:
            alive(daemon)
            lines = statsd.received_lines()
            ok = all(len(_node_values(lines, prefix, n, "cpu/usage_rate")) >= 2 for n in NODES)
            return lines if ok else []

        lines = wait_until(two_windows, 60.0, 0.25, "two windows of node gauges at the daemon")
        mine = [line for line in lines if line.startswith(f"{prefix}.")]

        # Values: each node's memory/usage gauge is one the Model API serves for that node; the node's
        # own labels are part of the name, as Heapster wrote them.
        assert any(line.startswith(f"{prefix}.node.{NODES[0]}.") and f".kubernetes_io/hostname.{NODES[0]}." in line
                   for line in mine)
        for node in NODES:
            served = set(model_points(daemon["url"], f"nodes/{node}/metrics/memory/usage").values())
            sent = _node_values(mine, prefix, node, "memory/usage")
            assert sent and set(sent) <= served | {0.0}, (sent, served)

        # Names: every level of Heapster's etsystatsd hierarchy, from the simulator's objects.
        names = {line.rsplit(":", 1)[0] for line in mine}
        assert f"{prefix}.cluster.memory/usage" in names
        for namespace in model_list(daemon["url"], "namespaces/"):
            assert f"{prefix}.namespace.{namespace}.memory/usage" in names
            for pod in model_list(daemon["url"], f"namespaces/{namespace}/pods/"):
                pod_names = [n for n in names if f".namespace.{namespace}.pod.{pod.replace('.', '_')}." in n]
                assert any(n.startswith(f"{prefix}.node.") for n in pod_names), pod
                containers = model_list(daemon["url"], f"namespaces/{namespace}/pods/{pod}/containers/")
                for container in containers:
                    assert any(f".container.{container}." in n for n in pod_names), container
        assert any(f".node.{NODES[0]}.sys-container.kubelet." in n for n in names)
        assert all(line.endswith("|g") for line in mine)

        # What the daemon made of them: gauges under its sanitised names, and no bad lines.
        def flushed() -> dict:
            state = statsd.state()
            return state if any(k.startswith(f"{prefix}.node.{NODES[0]}.") and k.endswith(".memory-usage")
                                for k in state["gauges"]) else {}

        state = wait_until(flushed, PATIENCE, 0.1, "a flush with our gauges")
        assert state["bad_lines_seen"] == 0
