"""End to end: the simulator, heapster and the eventer as real processes, sending to the Honeycomb double."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heapster.testing.net import PATIENCE, wait_until
from heapster.timefmt import parse_rfc3339
from heapster_eventer.testing import EventerProcess
from heapster_simulator.testing import alive, api_get, heapster_with_sinks, model_points, simulator_process
from heapster_sink_honeycomb.events import BLACKLIST
from heapster_sink_honeycomb.testing import HoneycombServer

pytestmark = pytest.mark.e2e

NODES = {"sim-node-0000", "sim-node-0001"}


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with simulator_process(tmp_path, nodes=2, pods_per_node=2, containers_per_pod=1, events_per_second=10,
                           seed=9, api_scheme="https", token="e2e") as ready:
        yield ready


def test_heapster_sends_one_event_per_metric_set(tmp_path: Path, server: HoneycombServer, dataset: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HONEYCOMB_WRITEKEY", "test-writekey")  # heapster reads the key from its environment

    def mine() -> list[Any]:
        return [e for e in server.events if e.dataset == dataset]

    sink = f"honeycomb:?dataset={dataset}&apihost={server.url}"
    with heapster_with_sinks(tmp_path, [sink], nodes=2, pods_per_node=2, containers_per_pod=1) as daemon:
        def rates() -> bool:
            alive(daemon)
            return any("cpu/usage_rate" in e.data for e in mine())

        wait_until(rates, 2 * PATIENCE, 0.25, "rates at Honeycomb")
        # The store's queue may not have written the window Honeycomb just got yet: wait for one window in both.
        model: dict[int, float] = {}

        def stored() -> bool:
            model.update(model_points(daemon["url"], "nodes/sim-node-0000/metrics/memory/usage"))
            return bool(set(model) & {int(parse_rfc3339(e.time or "").timestamp()) for e in mine()
                                      if e.data.get("type") == "node" and e.data["nodename"] == "sim-node-0000"})

        wait_until(stored, PATIENCE, 0.25, "a window at Honeycomb in the Model API too")
        assert "test-writekey" not in Path(daemon["log"]).read_text()
    got = mine()
    assert {e.data.get("type") for e in got} >= {"node", "pod", "pod_container", "ns", "cluster"}
    assert {e.data["nodename"] for e in got if e.data.get("type") == "node"} == NODES
    for event in got:
        assert not BLACKLIST & set(event.data), "Heapster's blacklisted counters must not be sent"
        assert event.time and event.time.endswith("Z")
    by_time = {int(parse_rfc3339(e.time or "").timestamp()): e.data["memory/usage"] for e in got
               if e.data.get("type") == "node" and e.data["nodename"] == "sim-node-0000"}
    common = set(by_time) & set(model)
    assert common and all(by_time[t] == model[t] for t in common)


def test_the_eventer_sends_each_event_with_heapsters_fields(tmp_path: Path, simulator: dict[str, Any],
                                                            server: HoneycombServer, dataset: str) -> None:
    kubeconfig = tmp_path / "simulator" / "kubeconfig"
    args = [f"--source=kubernetes:?inClusterConfig=false&auth={kubeconfig}", "--frequency=5s",
            f"--sink=honeycomb:?dataset={dataset}&writekey=test-writekey&apihost={server.url}"]
    eventer = EventerProcess(args, tmp_path / "eventer.log").start()
    try:
        eventer.wait_for(lambda: len([e for e in server.events if e.dataset == dataset]) >= 5, 30,
                         "events at Honeycomb")
    finally:
        eventer.stop()
    assert "test-writekey" not in eventer.log_tail(10**7)
    listed = api_get(simulator, "/api/v1/events", tmp_path / "simulator")["items"]
    for got in [e for e in server.events if e.dataset == dataset]:
        data = got.data
        assert list(data) == ["namespace", "kind", "name", "subobject", "source.component", "source.host", "count",
                              "type", "reason", "message"]
        sources = [e for e in listed if e["involvedObject"]["name"] == data["name"]
                   and e["involvedObject"]["kind"] == data["kind"] and e["reason"] == data["reason"]
                   and e["message"] == data["message"]]
        assert sources, data
        assert any(data["count"] <= e["count"] and data["type"] == e["type"] for e in sources)
        assert got.time in {e["lastTimestamp"] for e in sources} or data["count"] < max(e["count"] for e in sources)
