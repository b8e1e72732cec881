"""End to end, real processes: a simulator, a real influxd and two ``heapster --leader-elect`` replicas.

The leader is SIGKILLed mid-run. The survivor takes the Lease once it runs out, exports from its own
memory the windows the dead leader had not (the Lease's handover record says which), then goes on live.
Every 10 s window of the run is in InfluxDB exactly once with its full point count, the two replicas
exported disjoint sets of windows, and a client polling metrics.k8s.io on the survivor every second
never saw an error.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest

from heapster.testing.modules import load_module
from heapster_simulator.testing import api_get, simulator_process
from heapster_sink_influxdb.testing import influxd_server

pytestmark = pytest.mark.e2e

BENCH = Path(__file__).resolve().parent.parent / "bench" / "durable_queue_bench.py"
RESOLUTION = 10
LEASE = {"duration": 12.0, "renew": 8.0, "retry": 1.0}
"""Longer than a window, so the survivor has windows to replay from memory when it takes over."""
WAIT = 120.0
"""Deadline of each wait for a process to reach a state: generous, as start-up and windows run late on a busy
machine (the waits poll; an early state ends them at once). What is asserted is judged after them."""


def _bench() -> ModuleType:
    """The durable-queue bench's process and InfluxDB helpers (Heapster, points_per_window, ...)."""
    return load_module(BENCH, "durable_queue_bench")


class Poller(threading.Thread):
    """GETs ``url`` every second; records the longest stretch of failed requests."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.ok = 0
        self.errors: list[str] = []
        self.longest_outage = 0.0
        self._failing_since: float | None = None

    def run(self) -> None:
        while not self.stop.is_set():
            began = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=10) as resp:  # an error, not a slow answer, fails
                    items = json.loads(resp.read())["items"]
                if len(items) != 2:
                    raise ValueError(f"{len(items)} nodes")
                self.ok += 1
                self._failing_since = None
            except Exception as exc:
                self.errors.append(str(exc))
                self._failing_since = self._failing_since or began
                self.longest_outage = max(self.longest_outage, time.monotonic() - self._failing_since)
            self.stop.wait(max(0.0, 1.0 - (time.monotonic() - began)))


def test_the_leader_is_killed_and_every_window_is_in_influxdb_exactly_once(tmp_path: Path) -> None:
    bench = _bench()
    (tmp_path / "influxd").mkdir()
    with simulator_process(tmp_path, nodes=2, pods_per_node=2, containers_per_pod=1, api_scheme="https",
                           token="ha", churn_per_minute=0, restarts_per_minute=0, events_per_second=0) as ready, \
            influxd_server(tmp_path / "influxd") as influx:
        kubeconfig = tmp_path / "simulator" / "kubeconfig"

        def replica(name: str) -> tuple[object, str]:
            port = bench.free_port()
            args = [f"--source=kubernetes.summary_api:?inClusterConfig=false&auth={kubeconfig}",
                    f"--sink=influxdb:{influx.url}?db={bench.DB}", f"--metric_resolution={RESOLUTION}s",
                    f"--heapster-port={port}", "--listen_ip=127.0.0.1", "--log-format=json",
                    "--leader-elect", "--leader-elect-lease=default/heapster", f"--leader-elect-identity={name}",
                    f"--leader-elect-lease-duration={LEASE['duration']:g}s",
                    f"--leader-elect-renew-deadline={LEASE['renew']:g}s",
                    f"--leader-elect-retry-period={LEASE['retry']:g}s"]
            return bench.Heapster(args, tmp_path / f"{name}.log").start(), f"http://127.0.0.1:{port}"

        def exported(h: object) -> list[int]:
            return [int(bench.epoch(r["window"])) for r in h.records("batch.exported")  # type: ignore[attr-defined]
                    if r.get("sink") == bench.INFLUX_SINK]

        a, _ = replica("replica-a")
        bench.wait_until(lambda: a.records("leader.acquired"), WAIT, "replica-a to lead", a.alive)
        b, b_url = replica("replica-b")
        poller: Poller | None = None
        try:
            bench.wait_until(lambda: b.records("leader.standby"), WAIT, "replica-b to stand by", b.alive)
            nodes_url = f"{b_url}/apis/metrics.k8s.io/v1beta1/nodes"
            # both nodes, as the poller expects from then on (the first answers may hold one node's rates only)
            bench.wait_until(lambda: len(_node_metrics(nodes_url)) == 2, WAIT, "replica-b to answer metrics.k8s.io",
                             b.alive)
            poller = Poller(nodes_url)
            poller.start()
            bench.wait_until(lambda: len(exported(a)) >= 3, WAIT, "three windows exported by replica-a", a.alive)
            assert not exported(b), "the standby exported"
            # SIGKILL mid-run, once the Lease records the leader's last acknowledged window (recorded
            # right after each acknowledgement), so the handover is judged, not that millisecond.
            last_a = max(exported(a))

            def recorded() -> bool:
                body = api_get(ready, "/apis/coordination.k8s.io/v1/namespaces/default/leases/heapster",
                               tmp_path / "simulator")
                record = json.loads(body["metadata"].get("annotations", {}).get(
                    "heapster.k8s.io/acknowledged-windows", "{}"))
                return any(int(bench.epoch(v)) >= last_a for v in record.values())

            bench.wait_until(recorded, WAIT, "the leader's handover record", a.alive)
            a.kill()
            killed_at = time.monotonic()
            exported_by_a = exported(a)
            bench.wait_until(lambda: b.records("leader.acquired"), WAIT, "replica-b to take over", b.alive)
            took_over = time.monotonic() - killed_at
            bench.wait_until(lambda: len(exported(b)) >= 3, WAIT, "three windows exported by replica-b", b.alive)
            replays = b.records("handover.replay")
            poller.stop.set()
            poller.join(5)
            metrics = urllib.request.urlopen(f"{b_url}/metrics", timeout=5).read().decode()
        finally:
            if poller is not None:
                poller.stop.set()
            b.stop()
            if a.process.poll() is None:
                a.stop()
        exported_by_b = exported(b)
        assert not set(exported_by_a) & set(exported_by_b), "a window was exported by both replicas"
        assert took_over >= LEASE["duration"] - 2 * LEASE["retry"]
        (replay,) = replays
        assert replay["windows"] >= 1, replay  # the windows scraped while the Lease ran out
        assert int(bench.epoch(replay["acknowledged"])) == max(exported_by_a)
        assert int(bench.epoch(replay["first"])) == max(exported_by_a) + RESOLUTION
        assert "heapster_leader 1.0" in metrics
        replayed = re.findall(r'^heapster_handover_replayed_windows_total\{sink="influxdb:[^"]+"\} (\S+)$', metrics,
                              re.M)
        assert [float(v) for v in replayed] == [float(replay["windows"])]
        windows = sorted(exported_by_a + exported_by_b)
        first, last = windows[0], windows[-1]
        assert windows == list(range(first, last + RESOLUTION, RESOLUTION)), "a window is missing"
        counts = bench.points_per_window(influx, first, last)
        assert sorted(counts) == windows
        steady = counts[windows[1]]  # the first window has no rates yet
        assert steady > counts[first] > 0
        for window in windows[1:]:
            assert counts[window] == steady, f"window {window}: {counts[window]} points, expected {steady}"
        assert bench.points_written(influx) == sum(counts.values()), "points were written to InfluxDB twice"
        assert poller.ok > 0
        assert poller.longest_outage < LEASE["duration"], poller.errors
        assert not poller.errors, (poller.ok, poller.errors)  # the survivor served metrics.k8s.io throughout


def _node_metrics(url: str) -> list[object]:
    """The items of a metrics.k8s.io node list, [] while there are none (the second window brings rates)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return list(json.loads(resp.read())["items"])
    except OSError:
        return []
