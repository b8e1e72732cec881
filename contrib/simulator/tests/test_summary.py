"""Kubelet summaries: the shape of the v1.35 fixture, counters that grow with time, restarts and churn."""

from __future__ import annotations

import json
import time
from typing import Any

import orjson
import pytest

from heapster.testing.fixtures import FIXTURES
from heapster_simulator import SimulatorConfig
from heapster_simulator.model import rfc3339
from heapster_simulator.simulation import Simulation
from heapster_simulator.summary import node_summary

FIXTURE = FIXTURES / "kubelet-stats-summary-v1.35.json"


def assert_shape(ours: Any, theirs: Any, path: str = "$") -> None:
    """Every key of the fixture exists in ours, recursively, with the same JSON type."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), f"{path}: expected an object"
        missing = set(theirs) - set(ours)
        assert not missing, f"{path}: missing {sorted(missing)}"
        for key, value in theirs.items():
            assert_shape(ours[key], value, f"{path}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list), f"{path}: expected a list"
        if theirs:
            assert ours, f"{path}: expected a non-empty list"
            for i, item in enumerate(ours):
                assert_shape(item, theirs[0], f"{path}[{i}]")
    elif isinstance(theirs, bool):
        assert isinstance(ours, bool), path
    elif isinstance(theirs, int):
        assert isinstance(ours, int) and not isinstance(ours, bool), f"{path}: expected an integer, got {ours!r}"
        assert ours >= 0, f"{path}: negative {ours}"
    elif isinstance(theirs, float):
        assert isinstance(ours, int | float), path
    elif isinstance(theirs, str):
        assert isinstance(ours, str), f"{path}: expected a string"


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return Simulation(SimulatorConfig(nodes=3, pods_per_node=30, containers_per_pod=2, seed=3))


def test_summary_has_every_field_of_the_v135_fixture(sim: Simulation) -> None:
    fixture = json.loads(FIXTURE.read_text())
    ours = orjson.loads(orjson.dumps(node_summary(sim.model.nodes[1], 30, time.time())))
    assert set(ours) == set(fixture)
    node_fields = {k: v for k, v in fixture["node"].items() if k != "systemContainers"}
    assert_shape(ours["node"], node_fields, "$.node")
    for container in ours["node"]["systemContainers"]:
        assert_shape(container, fixture["node"]["systemContainers"][0], f"$.node.systemContainers.{container['name']}")
    assert [c["name"] for c in ours["node"]["systemContainers"]] == ["kubelet", "runtime", "pods", "misc"]
    with_volumes = next(p for p in fixture["pods"] if p.get("volume"))
    pod_fields = {k: v for k, v in with_volumes.items() if k not in ("containers", "volume")}
    assert len(ours["pods"]) == 30
    for pod in ours["pods"]:
        assert_shape(pod, pod_fields, f"$.pods.{pod['podRef']['name']}")
        assert len(pod["containers"]) == 2
        for container in pod["containers"]:
            assert_shape(container, with_volumes["containers"][0], f"$.pods.{pod['podRef']['name']}.containers")
        for volume in pod["volume"]:
            assert_shape(volume, with_volumes["volume"][0], f"$.pods.{pod['podRef']['name']}.volume")
    assert any("pvcRef" in v for pod in ours["pods"] for v in pod["volume"])
    assert ours["node"]["nodeName"] == "sim-node-0001"


def test_pod_refs_match_the_api_server(sim: Simulation) -> None:
    node = sim.model.nodes[2]
    summary = node_summary(node, 30, time.time())
    api_pods = [sim.pods.render(p) for p in sim.pods.values()]
    on_node = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in api_pods
               if p["spec"]["nodeName"] == node.name}
    assert len(on_node) == 30
    for pod in summary["pods"]:
        ref = pod["podRef"]
        api_pod = on_node[(ref["namespace"], ref["name"])]
        assert api_pod["metadata"]["uid"] == ref["uid"]
        assert [c["name"] for c in pod["containers"]] == [c["name"] for c in api_pod["spec"]["containers"]]


def test_counters_grow_at_plausible_rates(sim: Simulation) -> None:
    node = sim.model.nodes[0]
    t0 = time.time()
    before, after = node_summary(node, 30, t0), node_summary(node, 30, t0 + 60)
    assert after["node"]["cpu"]["time"] == rfc3339(t0 + 60)
    node_rate = (after["node"]["cpu"]["usageCoreNanoSeconds"] - before["node"]["cpu"]["usageCoreNanoSeconds"]) / 60
    assert 0.5e9 < node_rate < 16e9  # between half a core and all 16 cores of the node
    assert after["node"]["network"]["rxBytes"] > before["node"]["network"]["rxBytes"]
    for old, new in zip(before["pods"], after["pods"], strict=True):
        assert new["network"]["rxBytes"] > old["network"]["rxBytes"]
        for c_old, c_new in zip(old["containers"], new["containers"], strict=True):
            rate = (c_new["cpu"]["usageCoreNanoSeconds"] - c_old["cpu"]["usageCoreNanoSeconds"]) / 60
            assert 1e6 <= rate <= 1e9, rate  # 1 to 1000 millicores
            assert c_new["memory"]["pageFaults"] >= c_old["memory"]["pageFaults"]
            assert 0 < c_new["memory"]["workingSetBytes"] <= c_new["memory"]["usageBytes"]
            assert c_new["logs"]["usedBytes"] >= c_old["logs"]["usedBytes"]
            assert c_new["startTime"] == c_old["startTime"]


def test_a_restart_moves_start_time_and_resets_counters() -> None:
    sim = Simulation(SimulatorConfig(nodes=1, pods_per_node=4, seed=5))
    node = sim.model.nodes[0]
    before = node_summary(node, 4, time.time())
    rv = sim.versions.current
    assert sim.restart_containers(1) == 1
    after = node_summary(node, 4, time.time() + 2)
    changed = [(b, a) for bp, ap in zip(before["pods"], after["pods"], strict=True)
               for b, a in zip(bp["containers"], ap["containers"], strict=True) if b["startTime"] != a["startTime"]]
    assert len(changed) == 1
    old, new = changed[0]
    assert new["startTime"] > old["startTime"]
    assert new["cpu"]["usageCoreNanoSeconds"] < old["cpu"]["usageCoreNanoSeconds"]
    assert new["cpu"]["usageCoreNanoSeconds"] < 2 * 1e9  # two seconds of at most one core
    (change,) = sim.pods.changes_since(rv)
    assert change.type == "MODIFIED"
    assert sum(s["restartCount"] for s in change.obj["status"]["containerStatuses"]) == 1


def test_churn_replaces_pods_in_summary_and_api() -> None:
    sim = Simulation(SimulatorConfig(nodes=2, pods_per_node=5, seed=9))
    refs_before = {p["podRef"]["uid"] for n in sim.model.nodes for p in node_summary(n, 5, time.time())["pods"]}
    rv = sim.versions.current
    assert sim.replace_pods(3) == 3
    refs_after = {p["podRef"]["uid"] for n in sim.model.nodes for p in node_summary(n, 5, time.time())["pods"]}
    assert len(refs_before - refs_after) == 3 and len(refs_after - refs_before) == 3
    changes = sim.pods.changes_since(rv)
    assert [c.type for c in changes] == ["DELETED", "ADDED"] * 3
    assert {c.obj["metadata"]["uid"] for c in changes if c.type == "ADDED"} == refs_after - refs_before
    assert len(sim.pods) == 10


def test_rates_drive_events_churn_and_restarts() -> None:
    sim = Simulation(SimulatorConfig(nodes=2, pods_per_node=5, events_per_second=4, churn_per_minute=30,
                                     restarts_per_minute=60))
    for _ in range(10):
        sim.tick(0.5)
    assert sim.counts["events_added"] + sim.counts["events_modified"] == 20
    assert sim.counts["pods_replaced"] == 2
    assert sim.counts["containers_restarted"] == 5
