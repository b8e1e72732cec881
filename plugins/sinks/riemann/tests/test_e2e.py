"""End to end: the simulator, heapster and the eventer as real processes, sending to the Riemann double.

What arrives is checked against the simulator (nodes, events) and heapster's own Model API.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heapster.testing.net import PATIENCE, wait_until
from heapster_eventer.testing import EventerProcess
from heapster_simulator.testing import alive, api_get, heapster_with_sinks, model_points, simulator_process
from heapster_sink_riemann.testing import RiemannServer

pytestmark = pytest.mark.e2e

NODES = {"sim-node-0000", "sim-node-0001"}


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with simulator_process(tmp_path, nodes=2, pods_per_node=2, containers_per_pod=1, events_per_second=10,
                           seed=5, api_scheme="https", token="e2e") as ready:
        yield ready


def attributes(event: Any) -> dict[str, str]:
    return {a.key: a.value for a in event.attributes}


def test_heapster_sends_every_metric_set_as_heapsters_riemann_events(tmp_path: Path, server: RiemannServer) -> None:
    before = len(server.events)
    sink = f"riemann:tcp://{server.address}?ttl=120&tags=e2e&batchsize=50"
    with heapster_with_sinks(tmp_path, [sink], nodes=2, pods_per_node=2, containers_per_pod=1) as daemon:
        def rates() -> bool:
            alive(daemon)
            return any(e.service == "cpu/usage_rate" for e in server.events[before:])

        wait_until(rates, 2 * PATIENCE, 0.25, "cpu/usage_rate events at Riemann")
        model = model_points(daemon["url"], "nodes/sim-node-0000/metrics/memory/usage")
    got = server.events[before:]
    assert {attributes(e).get("type") for e in got} >= {"node", "pod", "pod_container", "ns", "cluster"}
    nodes = [e for e in got if attributes(e).get("type") == "node"]
    assert {attributes(e)["nodename"] for e in nodes} == NODES
    assert all(e.host == attributes(e)["hostname"] for e in nodes)
    assert {"cpu/usage", "memory/usage", "uptime", "filesystem/usage"} <= {e.service for e in got}
    for event in got:
        assert event.ttl == 120 and list(event.tags) == ["e2e"] and event.time % 5 == 0
        assert event.HasField("metric_sint64") or event.HasField("metric_d")
    riemann_usage = {e.time: e.metric_sint64 for e in nodes
                     if e.service == "memory/usage" and attributes(e)["nodename"] == "sim-node-0000"}
    common = set(riemann_usage) & set(model)
    assert common and all(riemann_usage[t] == model[t] for t in common)


def test_the_eventer_sends_each_event_as_heapsters_riemann_event(tmp_path: Path, simulator: dict[str, Any],
                                                                 server: RiemannServer) -> None:
    before = len(server.events)
    kubeconfig = tmp_path / "simulator" / "kubeconfig"
    args = [f"--source=kubernetes:?inClusterConfig=false&auth={kubeconfig}", "--frequency=5s",
            f"--sink=riemann:tcp://{server.address}"]
    eventer = EventerProcess(args, tmp_path / "eventer.log").start()
    try:
        eventer.wait_for(lambda: len(server.events) - before >= 5, 30, "events at Riemann")
    finally:
        eventer.stop()
    listed = {e["metadata"]["uid"]: e for e in api_get(simulator, "/api/v1/events", tmp_path / "simulator")["items"]}
    for got in server.events[before:]:
        attrs = attributes(got)
        kind, _, reason = got.service.partition(".")
        # Riemann events carry no event uid: find the API's event(s) about the same object, reason and message.
        sources = [e for e in listed.values() if e["involvedObject"]["uid"] == attrs["uid"]
                   and e["reason"] == reason and e["message"] == got.description]
        assert sources, got
        source = max(sources, key=lambda e: int(e["count"]))
        assert kind == source["involvedObject"]["kind"]
        assert got.host == (source["source"].get("host") or socket.gethostname())  # the Go client's fallback
        assert attrs["component"] == source["source"].get("component", "")
        assert got.state == ("ok" if source["type"] == "Normal" else "warning")
        assert 1 <= got.metric_sint64 <= source["count"]
        assert attrs["name"] == source["involvedObject"]["name"]
        assert attrs["namespace"] == source["involvedObject"].get("namespace", "")
        assert got.ttl == 60 and list(got.tags) == ["heapster"] and got.time % 5 == 0
