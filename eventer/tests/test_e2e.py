"""End to end: simulator subprocess -> eventer subprocess -> real influxd and osmem-server, exactly once.

Ground truth comes from the simulator: an event listed with ``count`` k at resourceVersion R has had
versions 1..k, and every version after a list at R_0 has a resourceVersion above R_0. The eventer
starts from a checkpoint at R_0, so exactly the versions (uid, c) with count_at_R0(uid) < c <=
count_at_R_end(uid) must reach each sink once. Elasticsearch documents have deterministic ids, so
a repeat shows as ``_version`` 2; InfluxDB overwrites equal points, so repeats are counted with
``pointsWrittenOK``, which must equal the number of versions exported.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from heapster.testing.net import PATIENCE, wait_until
from heapster.uri import mask_uri
from heapster_eventer.testing import EventerProcess
from heapster_simulator.testing import simulator_process
from heapster_sink_influxdb.testing import InfluxServer

pytestmark = pytest.mark.e2e

Version = tuple[str, int]


# --- talking to the servers ------------------------------------------------------------------------

def http_json(method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        text = resp.read()
    return json.loads(text) if text else None


def list_events(api: str) -> tuple[int, dict[str, int]]:
    """The API server's events now: (list resourceVersion, {uid: count})."""
    body = http_json("GET", f"{api}/api/v1/events")
    return int(body["metadata"]["resourceVersion"]), {e["metadata"]["uid"]: int(e["count"]) for e in body["items"]}


def versions_between(before: dict[str, int], after: dict[str, int]) -> set[Version]:
    """Every event version created after the list ``before`` and up to the list ``after``."""
    return {(uid, c) for uid, count in after.items() for c in range(before.get(uid, 0) + 1, count + 1)}


def generated(api: str) -> tuple[int, int]:
    """How many events the simulator has added and modified (count bumps) so far."""
    state = http_json("GET", f"{api}/simulator/state")
    return int(state["events_added"]), int(state["events_modified"])


def wait_for_tick(api: str) -> None:
    """Return right after the simulator's once-a-second event burst, so a fault falls between bursts.

    The simulator writes a burst in one step of its event loop, so once its counters moved the burst is
    complete, and the next one is a second away.
    """
    first = generated(api)
    wait_until(lambda: generated(api) != first, timeout=PATIENCE, interval=0.02,
               what="the simulator's next event burst")


def es_documents(url: str, index: str) -> list[tuple[str, int, int]]:
    """(event uid, count, _version) of every event document."""
    http_json("POST", f"{url}/{index}-*/_refresh")
    body = http_json("POST", f"{url}/{index}-*/_search",
                     {"size": 10000, "version": True, "query": {"match_all": {}}})
    return [(h["_source"]["EventTags"]["eventID"], int(h["_source"]["Count"]), int(h["_version"]))
            for h in body["hits"]["hits"]]


def influx_query(server: InfluxServer, query: str, db: str | None = None) -> Any:
    params = {"q": query, **({"db": db} if db else {})}
    with urllib.request.urlopen(f"{server.url}/query?{urllib.parse.urlencode(params)}", timeout=10) as resp:
        return json.loads(resp.read())


def influx_versions(server: InfluxServer, db: str) -> set[Version]:
    body = influx_query(server, 'SELECT "value" FROM "log/events"', db)
    series = body["results"][0].get("series") or []
    out = set()
    for row in (series[0]["values"] if series else []):
        event = json.loads(row[1])
        out.add((event["metadata"]["uid"], int(event["count"])))
    return out


def influx_points_written(server: InfluxServer) -> int:
    body = influx_query(server, "SHOW STATS FOR 'httpd'")
    total = 0
    for series in body["results"][0]["series"]:
        column = series["columns"].index("pointsWrittenOK")
        total += sum(int(v[column]) for v in series["values"])
    return total


# --- the set-up shared by both tests -----------------------------------------------------------------

class Setup:
    """A simulator generating events, the two sinks' URIs, and a checkpoint starting at ``start_rv``."""

    def __init__(self, api: str, influxd: InfluxServer, es_url: str, name: str) -> None:
        self.api = api
        self.influxd = influxd
        self.es_url = es_url
        # A database of its own per run: influxd lives for the session, and a test run again in it (--count, a
        # rerun) would otherwise read the versions of the earlier run (the same simulator seed, further along).
        self.db = f"events_{name}_{uuid.uuid4().hex[:8]}"
        self.index = f"ev-{name}"
        self.sinks = [f"influxdb:{influxd.url}?db={self.db}",
                      f"elasticsearch:?nodes={es_url}&index={self.index}&sniff=false"]
        self.start_rv, self.start_counts = list_events(api)
        self.points_before = influx_points_written(influxd)

    def source(self) -> str:
        return f"kubernetes:{self.api}?inClusterConfig=false"

    def checkpoint_json(self) -> str:
        positions = {mask_uri(s): str(self.start_rv) for s in self.sinks}
        return json.dumps({"version": 1, "positions": positions, "dedup": [], "holder": ""})

    def args(self, *extra: str) -> list[str]:
        return [f"--source={self.source()}", *(f"--sink={s}" for s in self.sinks), "--frequency=5s", *extra]

    def assert_exactly_once(self, end_counts: dict[str, int]) -> None:
        """Every version up to the ``end_counts`` list is in both sinks once; nothing else was repeated."""
        expected = versions_between(self.start_counts, end_counts)
        assert expected, "the simulator generated no events during the test"
        docs = es_documents(self.es_url, self.index)
        es_set = {(uid, count) for uid, count, _ in docs}
        repeated = [(uid, count, version) for uid, count, version in docs if version != 1]
        assert repeated == [], f"{len(repeated)} Elasticsearch documents were written more than once"
        missing = expected - es_set
        assert missing == set(), f"{len(missing)} event versions never reached Elasticsearch"
        _, final_counts = list_events(self.api)
        assert es_set <= versions_between(self.start_counts, final_counts)  # nothing from before the start
        points = influx_points_written(self.influxd) - self.points_before
        assert points == len(docs), "InfluxDB got a different number of event writes than Elasticsearch"
        influx_set = influx_versions(self.influxd, self.db)
        assert influx_set <= es_set
        newest = {uid: count for uid, count in influx_set if count >= end_counts.get(uid, 0)}
        assert {uid for uid, count in end_counts.items() if count > self.start_counts.get(uid, 0)} <= set(newest)


def positions_of(path: Path) -> dict[str, int]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: int(v) for k, v in doc["positions"].items()}


def last_exported(eventer: EventerProcess) -> dict[str, int]:
    """Each sink's position after the last batch ``eventer`` exported to it: what its checkpoint holds once it
    stopped cleanly (every export is logged with its position; the final checkpoint is saved after the flush)."""
    return {line["sink"]: int(line["position"]) for line in eventer.logs("batch.exported")}


def terms(*replicas: EventerProcess) -> list[str]:
    """Each replica's leadership and resume lines, for a failure's message."""
    wanted = ("leader.", "eventer.term", "eventer.resume")
    return [f"{e.log_path.name} {line.get('timestamp', '')} {line['event']} {line.get('position', '')}"
            for e in replicas for line in e.logs() if line.get("event", "").startswith(wanted)]


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with simulator_process(tmp_path, nodes=2, pods_per_node=5, events_per_second=30, seed=7,
                           bookmark_interval=1) as ready:
        yield ready


# --- the tests --------------------------------------------------------------------------------------

def test_restart_and_410_gone_deliver_every_event_version_exactly_once(
        tmp_path: Path, simulator: dict[str, Any], influxd: InfluxServer, opensearch_url: str,
        eventers: Callable[[list[str], Path], EventerProcess]) -> None:
    setup = Setup(simulator["api"], influxd, opensearch_url, "restart")
    checkpoint = tmp_path / "checkpoint.json"
    checkpoint.write_text(setup.checkpoint_json(), encoding="utf-8")
    args = setup.args(f"--checkpoint-file={checkpoint}")

    first = eventers(args, tmp_path / "eventer-1.log")
    first.wait_for(lambda: min(positions_of(checkpoint).values()) > setup.start_rv, PATIENCE, "a first export")
    assert first.stop() == 0
    stopped_at = positions_of(checkpoint)
    added, modified = generated(setup.api)
    wait_until(lambda: all(now > then for now, then in zip(generated(setup.api), (added, modified), strict=True)),
               timeout=PATIENCE, what="new events and count bumps while no eventer runs")

    second = eventers(args, tmp_path / "eventer-2.log")
    # /healthz answers before the checkpoint is read: wait for the line rather than read it at once.
    second.wait_for(lambda: second.logs("eventer.resume"), PATIENCE, "the resume from the checkpoint")
    (resume,) = second.logs("eventer.resume")
    assert int(resume["position"]) == min(stopped_at.values())
    second.wait_for(lambda: min(positions_of(checkpoint).values()) > max(stopped_at.values()), PATIENCE,
                    "an export after the restart")

    wait_for_tick(setup.api)
    http_json("POST", f"{setup.api}/simulator/faults", {"api": "expire"})
    http_json("POST", f"{setup.api}/simulator/faults", {"api": "drop-watch"})
    second.wait_for(lambda: second.logs("informer.relist") or second.logs("events.resume.expired"), PATIENCE,
                    "a relist after 410 Gone")

    end_rv, end_counts = list_events(setup.api)
    second.wait_for(lambda: min(positions_of(checkpoint).values()) >= end_rv, PATIENCE, "the export of the last events")
    assert second.stop() == 0
    setup.assert_exactly_once(end_counts)


def test_only_the_lease_holder_exports_and_the_standby_takes_over(
        tmp_path: Path, simulator: dict[str, Any], influxd: InfluxServer, opensearch_url: str,
        eventers: Callable[[list[str], Path], EventerProcess]) -> None:
    setup = Setup(simulator["api"], influxd, opensearch_url, "lease")
    http_json("POST", f"{setup.api}/api/v1/namespaces/default/configmaps",
              {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "eventer-cp", "namespace": "default"},
               "data": {"checkpoint.json": setup.checkpoint_json()}})

    def positions() -> dict[str, int]:
        cm = http_json("GET", f"{setup.api}/api/v1/namespaces/default/configmaps/eventer-cp")
        return {k: int(v) for k, v in json.loads(cm["data"]["checkpoint.json"])["positions"].items()}

    def args(identity: str) -> list[str]:
        return setup.args("--checkpoint-configmap=default/eventer-cp", "--leader-elect",
                          "--leader-elect-lease=default/eventer", f"--leader-elect-identity={identity}",
                          # client-go's lease and renew times: a leader slowed down by a loaded machine keeps
                          # its Lease (3 s and 2 s left a loaded machine little room); a clean stop releases it at once
                          "--leader-elect-lease-duration=15s", "--leader-elect-renew-deadline=10s",
                          "--leader-elect-retry-period=0.5s")

    started = time.time()
    leader = eventers(args("replica-a"), tmp_path / "eventer-a.log")
    leader.wait_for(lambda: leader.logs("leader.acquired"), PATIENCE, "replica-a to lead")
    standby = eventers(args("replica-b"), tmp_path / "eventer-b.log")
    standby.wait_for(lambda: standby.logs("leader.standby"), PATIENCE, "replica-b to stand by")
    leader.wait_for(lambda: min(positions().values()) > setup.start_rv, PATIENCE, "replica-a's first export")
    first_export = max(positions().values())
    # One more period, which the standby must stay idle through.
    leader.wait_for(lambda: min(positions().values()) > first_export, PATIENCE, "replica-a's next export")

    leader_metrics = leader.metrics()
    assert leader_metrics["eventer_leader"] == 1.0
    for name in ("eventer_manager_last_time_seconds", "eventer_scraper_last_time_seconds",
                 "eventer_scraper_events_total_number", "eventer_scraper_duration_milliseconds_count",
                 'eventer_exporter_duration_milliseconds_count{exporter="InfluxDB Sink"}',
                 "eventer_buffer_events", "eventer_buffer_dropped_events_total"):
        assert name in leader_metrics, name
    assert leader_metrics["eventer_scraper_events_total_number"] > 0
    assert leader_metrics["eventer_manager_last_time_seconds"] > started  # a cycle of this run, however slow
    standby_metrics = standby.metrics()
    assert standby_metrics["eventer_leader"] == 0.0
    assert not [k for k in standby_metrics if k.startswith("eventer_exported_events_total")]
    assert standby.logs("eventer.exporting") == []
    lease = http_json("GET", f"{setup.api}/apis/coordination.k8s.io/v1/namespaces/default/leases/eventer")
    assert lease["spec"]["holderIdentity"] == "replica-a"
    exported_by_a = sum(v for k, v in leader.metrics().items() if k.startswith("eventer_exported_events_total{"))
    assert exported_by_a > 0

    assert leader.stop() == 0
    # What replica-a handed over, from its own log: the ConfigMap read now may already hold replica-b's first
    # export (seen 2 of 3 runs at load ~15, resume 1348 = replica-a's last export, ConfigMap 1481 when read).
    handed_over = min(last_exported(leader).values())
    standby.wait_for(lambda: standby.logs("leader.acquired"), PATIENCE, "replica-b to take over")
    # The resume line follows "leader.acquired" only once the new term has read the ConfigMap: reading the
    # log at once raced with that read (the flake under load).
    standby.wait_for(lambda: standby.logs("eventer.resume"), PATIENCE, "replica-b to resume from the checkpoint")
    (resume,) = standby.logs("eventer.resume")
    assert int(resume["position"]) == handed_over, terms(leader, standby)
    assert min(positions().values()) >= handed_over  # the ConfigMap holds it, or what replica-b exported since
    end_rv, end_counts = list_events(setup.api)
    standby.wait_for(lambda: min(positions().values()) >= end_rv, PATIENCE, "replica-b to export the last events")
    assert standby.stop() == 0
    lease = http_json("GET", f"{setup.api}/apis/coordination.k8s.io/v1/namespaces/default/leases/eventer")
    assert lease["spec"]["holderIdentity"] in ("", None)  # released on a clean stop
    setup.assert_exactly_once(end_counts)
