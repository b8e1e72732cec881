"""End to end: the simulator and the eventer as real processes, writing events to the Cloud Logging double."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from heapster_eventer.testing import EventerProcess
from heapster_simulator.testing import api_get, simulator_process
from heapster_sink_gcl.testing import LoggingServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with simulator_process(tmp_path, nodes=2, pods_per_node=2, containers_per_pod=1, events_per_second=10,
                           seed=13, api_scheme="https", token="e2e") as ready:
        yield ready


def test_the_eventer_writes_each_event_as_heapsters_log_entry(tmp_path: Path, simulator: dict[str, Any],
                                                              server: LoggingServer, project: str) -> None:
    kubeconfig = tmp_path / "simulator" / "kubeconfig"
    args = [f"--source=kubernetes:?inClusterConfig=false&auth={kubeconfig}", "--frequency=5s",
            f"--sink=gcl:?project={project}&endpoint={server.endpoint}&insecure=true"]

    def mine() -> list[Any]:
        return [e for e in server.entries if e.log_name == f"projects/{project}/logs/kubernetes.io%2Fevents"]

    eventer = EventerProcess(args, tmp_path / "eventer.log").start()
    try:
        eventer.wait_for(lambda: len(mine()) >= 5, 30, "log entries in Cloud Logging")
    finally:
        eventer.stop()
    listed = {e["metadata"]["uid"]: e for e in api_get(simulator, "/api/v1/events", tmp_path / "simulator")["items"]}
    for entry in mine():
        payload = json_format.MessageToDict(entry.json_payload)
        uid = payload["metadata"]["uid"]
        assert entry.insert_id == uid and uid in listed
        assert payload["involvedObject"] == listed[uid]["involvedObject"]
        assert payload["count"] <= listed[uid]["count"]
        assert entry.timestamp.ToJsonString() == payload["lastTimestamp"]
        assert entry.resource.type == "global" and entry.severity == 300  # NOTICE
