"""End to end: the eventer SIGKILLed and kept down past the API server's watch history, then restarted.

Real processes: the simulator (small ``--watch-history``, so the resume gets ``410 Gone``), the eventer,
and a real influxd behind a recording proxy that counts every event version written, by UID and
resourceVersion (InfluxDB itself would store two writes of one version as one point). After the
restart every event version the API lists is stored exactly once, and the versions the API no longer
holds are counted in ``eventer_events_lost_total`` and logged as ``events.gap``.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from heapster.testing.net import wait_until
from heapster.timefmt import parse_rfc3339, rfc3339, utc_from_epoch
from heapster.uri import mask_uri
from heapster_eventer.testing import PATIENCE, EventerProcess, RecordingProxy
from heapster_simulator.testing import simulator_process
from heapster_sink_influxdb.testing import InfluxServer

pytestmark = pytest.mark.e2e

WATCH_HISTORY = 120
"""Changes the simulator keeps per resource: about four seconds of its events at 30 a second."""

Version = tuple[str, int]  # (uid, resourceVersion)


def http_json(method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def watch_expired(api: str, rv: int) -> bool:
    """Whether a watch from ``rv`` gets 410 Gone now (the resume the restarted eventer will make)."""
    url = f"{api}/api/v1/events?watch=1&resourceVersion={rv}&timeoutSeconds=0"
    with urllib.request.urlopen(url, timeout=10) as resp:
        first = json.loads(resp.readline() or b"{}")
    return bool(first.get("type") == "ERROR" and first["object"].get("code") == 410)


def string_fields(text: str, key: str = "value") -> Iterator[str]:
    """Every ``key="..."`` string field of a line-protocol body, unescaped (newlines may be inside)."""
    marker = f' {key}="'
    position = text.find(marker)
    while position >= 0:
        i, out = position + len(marker), []
        while text[i] != '"':
            if text[i] == "\\" and text[i + 1] in '"\\':
                i += 1
            out.append(text[i])
            i += 1
        yield "".join(out)
        position = text.find(marker, i)


def written(proxy: RecordingProxy) -> list[dict[str, Any]]:
    """Every event InfluxDB accepted through the proxy, in write order."""
    return [json.loads(value) for body in proxy.accepted("/write") for value in string_fields(body.decode())]


def version(event: dict[str, Any]) -> Version:
    return event["metadata"]["uid"], int(event["metadata"]["resourceVersion"])


def newest_written(proxy: RecordingProxy) -> int:
    """The highest resourceVersion InfluxDB accepted through the proxy (0 before any write)."""
    return max((version(e)[1] for e in written(proxy)), default=0)


def position(checkpoint: Path) -> int:
    try:
        return min(int(v) for v in json.loads(checkpoint.read_text(encoding="utf-8"))["positions"].values())
    except (OSError, ValueError, KeyError):
        return 0


def happen_again(api: str, event: dict[str, Any], times: int) -> None:
    """The event occurs ``times`` more times: one PUT (a new version) per occurrence."""
    meta = event["metadata"]
    url = f"{api}/api/v1/namespaces/{meta['namespace']}/events/{meta['name']}"
    for _ in range(times):
        current = http_json("GET", url)
        current["count"] += 1
        current["lastTimestamp"] = rfc3339(utc_from_epoch(time.time()))
        current["metadata"].pop("resourceVersion", None)
        http_json("PUT", url, current)


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with simulator_process(tmp_path, nodes=2, pods_per_node=5, events_per_second=30, seed=11,
                           bookmark_interval=1, watch_history=WATCH_HISTORY) as ready:
        yield ready


def test_a_restart_past_the_watch_history_stores_every_listed_version_once_and_counts_the_lost(
        tmp_path: Path, simulator: dict[str, Any], influxd: InfluxServer,
        eventers: Callable[[list[str], Path], EventerProcess]) -> None:
    api = simulator["api"]
    with RecordingProxy(influxd.url) as proxy:
        sink = f"influxdb:{proxy.url}?db=events_gone"
        start_rv = int(http_json("GET", f"{api}/api/v1/events")["metadata"]["resourceVersion"])
        checkpoint = tmp_path / "checkpoint.json"
        checkpoint.write_text(json.dumps({"version": 1, "positions": {mask_uri(sink): str(start_rv)}, "dedup": [],
                                          "holder": ""}), encoding="utf-8")
        args = [f"--source=kubernetes:{api}?inClusterConfig=false", f"--sink={sink}", "--frequency=5s",
                f"--checkpoint-file={checkpoint}"]

        first = eventers(args, tmp_path / "eventer-1.log")
        first.wait_for(lambda: position(checkpoint) > start_rv, PATIENCE, "a first export")
        saved = checkpoint.read_text(encoding="utf-8")
        first.wait_for(lambda: checkpoint.read_text(encoding="utf-8") != saved, PATIENCE, "the next export")
        # Killed only once its checkpoint records every write InfluxDB took, with InfluxDB out of its
        # reach meanwhile: a kill between a sink's write and its checkpoint (the one window where a
        # restart repeats versions, by design) cannot happen, however late the kill comes under load.
        proxy.refuse()
        first.wait_for(lambda: position(checkpoint) >= newest_written(proxy), PATIENCE,
                       "the checkpoint to record every write InfluxDB accepted")
        first.kill()
        proxy.refuse(False)
        killed_at = position(checkpoint)
        memory = json.loads(checkpoint.read_text(encoding="utf-8"))["gap_memory"]
        before_restart = written(proxy)
        taken = {version(e) for e in before_restart}
        assert max(rv for _, rv in taken) <= killed_at  # what the relist skips, by construction above
        exported_count: dict[str, int] = {}
        for event in before_restart:
            uid = event["metadata"]["uid"]
            exported_count[uid] = max(exported_count.get(uid, 0), int(event["count"]))

        # Events keep coming while the eventer is down.
        wait_until(lambda: watch_expired(api, killed_at), timeout=PATIENCE, interval=0.2,
                   what="the simulator's watch history to move past the checkpoint")
        # Certain losses on top of the generator's: an event born in the gap that happens three times,
        # and an exported event that happens twice more; the API keeps only the last version of each.
        now = rfc3339(utc_from_epoch(time.time()))
        born = http_json("POST", f"{api}/api/v1/namespaces/default/events", {
            "metadata": {"name": "born-in-the-gap", "namespace": "default"},
            "involvedObject": {"kind": "Node", "name": "sim-node-0000", "uid": "sim-node-0000"},
            "reason": "Rebooted", "message": "born in the gap", "type": "Warning", "count": 1,
            "source": {"component": "kubelet", "host": "sim-node-0000"}, "firstTimestamp": now, "lastTimestamp": now})
        happen_again(api, born, 2)
        listed = {e["metadata"]["uid"]: e for e in http_json("GET", f"{api}/api/v1/events")["items"]}
        bumped = next(e for e in reversed(before_restart) if e["metadata"]["uid"] in listed)
        happen_again(api, bumped, 2)

        second = eventers(args, tmp_path / "eventer-2.log")
        second.wait_for(lambda: second.logs("events.gap"), PATIENCE, "the relist after 410 Gone")
        assert second.logs("events.resume.expired"), "the resume was not answered with 410"
        (gap,) = second.logs("events.gap")
        assert int(gap["handed_out_up_to"]) == killed_at
        end = http_json("GET", f"{api}/api/v1/events")
        end_rv = int(end["metadata"]["resourceVersion"])
        second.wait_for(lambda: position(checkpoint) >= end_rv, PATIENCE, "the export of the last events")
        lost_metric = second.metrics()["eventer_events_lost_total"]
        assert second.stop() == 0

    stored = Counter(version(e) for e in written(proxy))
    repeated = {v: n for v, n in stored.items() if n > 1}
    assert repeated == {}, f"{len(repeated)} event versions were written more than once"
    assert all(rv > start_rv for _, rv in stored), "an event from before the start was exported"
    listed_versions = {version(e) for e in end["items"] if int(e["metadata"]["resourceVersion"]) > start_rv}
    missing = listed_versions - set(stored)
    assert missing == set(), f"{len(missing)} of {len(listed_versions)} listed event versions never reached InfluxDB"

    # The relisted versions are those of (killed_at, listed_at]: the lost count is their count jumps.
    relisted = [e for e in written(proxy)[len(before_restart):]
                if killed_at < version(e)[1] <= int(gap["listed_at"]) and version(e) not in taken]
    assert gap["new_events"] == len(relisted) and int(gap["oldest_new"]) == min(version(e)[1] for e in relisted)
    expected_lost = uncertain = 0
    for event in relisted:
        uid, count = event["metadata"]["uid"], int(event["count"])
        if uid in exported_count:
            expected_lost += count - exported_count[uid] - 1
        elif parse_rfc3339(event["firstTimestamp"]).timestamp() > memory["complete_since"]:
            expected_lost += count - 1
        else:
            uncertain += 1
    by_uid = {e["metadata"]["uid"]: int(e["count"]) for e in relisted}
    assert by_uid[born["metadata"]["uid"]] >= 3 and by_uid[bumped["metadata"]["uid"]] >= bumped["count"] + 2
    assert (gap["lost_versions"], gap["uncertain_events"]) == (expected_lost, uncertain)
    assert lost_metric == expected_lost >= 3  # at least the two versions of the gap-born event and one bump
