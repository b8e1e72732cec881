"""End to end: the simulator and heapster as real processes, writing to the strict Cloud Monitoring double.

What arrives is checked against the simulator's nodes and pods and heapster's own Model API.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from heapster.testing.process import heapster_process
from heapster_simulator.testing import api_get, simulator_process
from heapster_sink_stackdriver.testing import MonitoringServer

pytestmark = pytest.mark.e2e

NODES = {"sim-node-0000", "sim-node-0001"}


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with simulator_process(tmp_path, nodes=2, pods_per_node=2, containers_per_pod=1, seed=11, api_scheme="https",
                           token="e2e") as ready:
        yield ready


def test_heapster_writes_heapsters_series_for_both_resource_models(tmp_path: Path, simulator: dict[str, Any],
                                                                   server: MonitoringServer, project: str) -> None:
    kubeconfig = tmp_path / "simulator" / "kubeconfig"
    sink = (f"stackdriver:?cluster_name=e2e&cluster_location=europe-west1&zone=europe-west1-c"
            f"&use_old_resources=true&use_new_resources=true&initial_delay_sec=0&batch_export_timeout_sec=10"
            f"&project={project}&endpoint={server.endpoint}&insecure=true")
    args = [f"--source=kubernetes.summary_api:?inClusterConfig=false&auth={kubeconfig}", "--metric_resolution=5s",
            f"--sink={sink}"]

    def mine() -> dict[Any, Any]:
        return {k: v for k, v in server.snapshot().items() if dict(k[3])["project_id"] == project}

    with heapster_process(args, tmp_path / "heapster.log") as heapster:
        heapster.wait_for(lambda: sum(len(v) for v in mine().values()) > len(mine()), 40,
                          "a second point per series in Cloud Monitoring")
        model = heapster.get("/api/v1/model/nodes/sim-node-0000/metrics/memory/working_set")["metrics"]
        log = heapster.log_tail(10**6)
    assert not server.duplicates, server.duplicates[:3]
    assert "stackdriver.sink.request.failed" not in log
    got = mine()
    by_type: dict[str, set[str]] = {}
    for metric_type, _, resource_type, _ in got:
        by_type.setdefault(resource_type, set()).add(metric_type)
    assert {"gke_container", "k8s_container", "k8s_pod", "k8s_node"} <= set(by_type)
    assert {"kubernetes.io/container/cpu/core_usage_time", "kubernetes.io/container/memory/used_bytes",
            "kubernetes.io/container/uptime"} <= by_type["k8s_container"]
    assert {"kubernetes.io/node/cpu/core_usage_time", "kubernetes.io/node/memory/used_bytes"} <= by_type["k8s_node"]
    assert {"container.googleapis.com/container/cpu/usage_time",
            "container.googleapis.com/container/memory/bytes_used"} <= by_type["gke_container"]
    nodes = {dict(k[3])["node_name"] for k in got if k[2] == "k8s_node"}
    assert nodes == NODES
    pods = {(p["metadata"]["namespace"], p["metadata"]["name"])
            for p in api_get(simulator, "/api/v1/pods", tmp_path / "simulator")["items"]}
    containers = {(dict(k[3])["namespace_name"], dict(k[3])["pod_name"]) for k in got if k[2] == "k8s_container"}
    assert containers and containers <= pods
    for key, points in got.items():
        assert all(dict(key[3])[label] for label in ("project_id", "cluster_name")), key
        ends = [end for end, _, _ in points]
        assert ends == sorted(ends) and all(end.timestamp() % 5 == 0 for end in ends)
    non_evictable = ("kubernetes.io/node/memory/used_bytes", (("memory_type", "non-evictable"),))
    working_set = {end: value for key, points in got.items()
                   if key[:2] == non_evictable and dict(key[3])["node_name"] == "sim-node-0000"
                   for end, _, value in points}
    model_values = {datetime.fromisoformat(p["timestamp"]).astimezone(UTC): p["value"] for p in model}
    common = set(working_set) & set(model_values)
    assert common and all(working_set[t] == model_values[t] for t in common)
