"""End to end: the simulator and heapster as real processes, writing to the strict Cloud Monitoring double.

What arrives is checked against the simulator's nodes and pods and heapster's own Model API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from heapster.testing.net import PATIENCE, wait_until
from heapster_simulator.testing import alive, api_get, heapster_with_sinks, model_points
from heapster_sink_stackdriver.testing import MonitoringServer

pytestmark = pytest.mark.e2e

NODES = {"sim-node-0000", "sim-node-0001"}


def test_heapster_writes_heapsters_series_for_both_resource_models(tmp_path: Path, server: MonitoringServer,
                                                                   project: str) -> None:
    sink = (f"stackdriver:?cluster_name=e2e&cluster_location=europe-west1&zone=europe-west1-c"
            f"&use_old_resources=true&use_new_resources=true&initial_delay_sec=0&batch_export_timeout_sec=10"
            f"&project={project}&endpoint={server.endpoint}&insecure=true")

    def mine() -> dict[Any, Any]:
        return {k: v for k, v in server.snapshot().items() if dict(k[3])["project_id"] == project}

    def sink_working_set() -> dict[int, float]:
        non_evictable = ("kubernetes.io/node/memory/used_bytes", (("memory_type", "non-evictable"),))
        return {int(end.timestamp()): value for key, points in mine().items()
                if key[:2] == non_evictable and dict(key[3])["node_name"] == "sim-node-0000"
                for end, _, value in points}

    with heapster_with_sinks(tmp_path, [sink], nodes=2, pods_per_node=2, containers_per_pod=1) as daemon:
        def two_points() -> bool:
            alive(daemon)
            got = mine()
            return bool(got) and sum(len(v) for v in got.values()) > len(got)

        def model_and_sink_share_a_window() -> dict[int, float]:
            model = model_points(daemon["url"], "nodes/sim-node-0000/metrics/memory/working_set")
            return model if set(model) & set(sink_working_set()) else {}

        # The daemon's start (81 s at load 12, 45 s of it importing), its source's and two windows of 5 s.
        wait_until(two_points, 2 * PATIENCE, 0.25, "a second point per series in Cloud Monitoring")
        model = wait_until(model_and_sink_share_a_window, PATIENCE, 0.25, "a window in both the Model API and the sink")
        log = Path(daemon["log"]).read_text()
        pods = {(p["metadata"]["namespace"], p["metadata"]["name"])
                for p in api_get(daemon, "/api/v1/pods", tmp_path / "simulator")["items"]}
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
    assert {dict(k[3])["node_name"] for k in got if k[2] == "k8s_node"} == NODES
    containers = {(dict(k[3])["namespace_name"], dict(k[3])["pod_name"]) for k in got if k[2] == "k8s_container"}
    assert containers and containers <= pods
    for key, points in got.items():
        assert all(dict(key[3])[label] for label in ("project_id", "cluster_name")), key
        ends = [end for end, _, _ in points]
        assert ends == sorted(ends) and all(end.timestamp() % 5 == 0 for end in ends)
    working_set = sink_working_set()
    common = set(working_set) & set(model)
    assert common and all(working_set[t] == model[t] for t in common)
