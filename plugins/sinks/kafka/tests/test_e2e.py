"""End to end: the simulator, heapster and the eventer as real processes, writing to a real broker.

What arrives is checked against the simulator (nodes, pods, events) and heapster's own Model API
(the same values at the same timestamps).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heapster.testing.net import PATIENCE, wait_until
from heapster.timefmt import parse_rfc3339
from heapster_eventer.testing import EventerProcess
from heapster_simulator.testing import alive, api_get, heapster_with_sinks, model_points, simulator_process
from heapster_sink_kafka.testing import KafkaBroker, read_topic

pytestmark = pytest.mark.e2e

NODES = ("sim-node-0000", "sim-node-0001")
TOKEN = "e2e"


def messages(broker: KafkaBroker, topic: str) -> list[dict[str, Any]]:
    return [json.loads(m) for m in asyncio.run(read_topic(broker.bootstrap, topic))]


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with simulator_process(tmp_path, nodes=2, pods_per_node=2, containers_per_pod=1, events_per_second=10,
                           seed=3, api_scheme="https", token=TOKEN) as ready:
        yield ready


def test_heapster_writes_every_metric_set_with_heapsters_names_tags_values_and_timestamps(
        tmp_path: Path, broker: KafkaBroker) -> None:
    sink = f"kafka:?brokers={broker.bootstrap}&timeseriestopic=e2e-metrics&compression=gzip"
    with heapster_with_sinks(tmp_path, [sink], nodes=2, pods_per_node=2, containers_per_pod=1) as daemon:
        def with_rates() -> list[dict[str, Any]]:
            alive(daemon)
            got = messages(broker, "e2e-metrics")
            return got if any(m["MetricsName"] == "cpu/usage_rate" for m in got) else []

        got = wait_until(with_rates, 2 * PATIENCE, 0.25, "cpu/usage_rate messages in Kafka")
        node = sorted(NODES)[0]
        model = model_points(daemon["url"], f"nodes/{node}/metrics/memory/usage")

    types = {m["MetricsTags"].get("type") for m in got}
    assert {"node", "pod", "pod_container", "ns", "cluster"} <= types
    assert {m["MetricsTags"]["nodename"] for m in got if m["MetricsTags"].get("type") == "node"} == set(NODES)
    names = {m["MetricsName"] for m in got}
    assert {"cpu/usage", "cpu/usage_rate", "memory/usage", "memory/working_set", "uptime",
            "filesystem/usage"} <= names
    for message in got:
        assert list(message) == ["MetricsName", "MetricsValue", "MetricsTimestamp", "MetricsTags"]
        assert message["MetricsTimestamp"].endswith("Z")
        assert parse_rfc3339(message["MetricsTimestamp"]).timestamp() % 5 == 0  # window ends
        assert isinstance(message["MetricsValue"]["value"], int | float)
    fs = [m for m in got if m["MetricsName"] == "filesystem/usage"]
    assert fs and all("resource_id" in m["MetricsTags"] and "type" in m["MetricsTags"] for m in fs)
    # The values are the ones heapster keeps in memory for the same node and time.
    kafka_usage = {int(parse_rfc3339(m["MetricsTimestamp"]).timestamp()): m["MetricsValue"]["value"] for m in got
                   if m["MetricsName"] == "memory/usage" and m["MetricsTags"].get("type") == "node"
                   and m["MetricsTags"]["nodename"] == node}
    common = set(kafka_usage) & set(model)
    assert common, (kafka_usage, model)
    assert all(kafka_usage[t] == model[t] for t in common)


def test_the_eventer_writes_each_event_as_heapsters_message(tmp_path: Path, simulator: dict[str, Any],
                                                           broker: KafkaBroker) -> None:
    kubeconfig = tmp_path / "simulator" / "kubeconfig"
    args = [f"--source=kubernetes:?inClusterConfig=false&auth={kubeconfig}", "--frequency=5s",
            f"--sink=kafka:?brokers={broker.bootstrap}&eventstopic=e2e-events"]
    eventer = EventerProcess(args, tmp_path / "eventer.log").start()
    try:
        found: list[dict[str, Any]] = []

        def arrived() -> bool:
            found[:] = messages(broker, "e2e-events")
            return len(found) >= 5

        eventer.wait_for(arrived, 30, "event messages in Kafka")
    finally:
        eventer.stop()
    items = api_get(simulator, "/api/v1/events", tmp_path / "simulator")["items"]
    listed = {e["metadata"]["uid"]: e for e in items}
    for message in found:
        assert list(message) == ["EventValue", "EventTimestamp", "EventTags"]
        event = json.loads(message["EventValue"])
        assert message["EventValue"].startswith('{\n "metadata": {\n  "name": ') or \
            message["EventValue"].startswith('{\n "kind": ')
        uid = event["metadata"]["uid"]
        assert uid in listed and event["count"] <= listed[uid]["count"]
        assert event["involvedObject"] == listed[uid]["involvedObject"]
        assert message["EventTimestamp"] == event["lastTimestamp"]
        tags = message["EventTags"]
        assert tags["eventID"] == uid and tags["hostname"] == event["source"].get("host", "")
        if event["involvedObject"]["kind"] == "Pod":
            assert tags["pod_name"] == event["involvedObject"]["name"]
            assert tags["pod_id"] == event["involvedObject"]["uid"]
        else:
            assert "pod_id" not in tags
