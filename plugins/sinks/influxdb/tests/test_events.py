"""Events in a real influxd, in both schema modes (HEAPSTER.md §7.3), from a real API server event."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from heapster.model import EventBatch
from heapster.testing.fixtures import FIXTURES
from heapster.testing.net import free_port
from heapster_sink_influxdb.lineproto import event_json

FIXTURE = FIXTURES / "event-core-v1-gke-2019.json"
LAST_TIMESTAMP_NS = 1567197785_000000000  # 2019-08-30T20:43:05Z
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def fixture_event() -> dict:
    return json.loads(FIXTURE.read_text())


async def test_default_schema_stores_the_event_as_indented_json(make_sink, server, db_name) -> None:
    sink = await make_sink("cluster_name=gke", events=True)
    await sink.export_events(EventBatch(NOW, [fixture_event()]))

    ((measurement, tags, field, value, ts),) = server.points(db_name)
    assert (measurement, field, ts) == ("log/events", "value", LAST_TIMESTAMP_NS)
    assert dict(tags) == {
        "uid": "c443d4b3-cb66-11e9-990f-42010a800218",
        "hostname": "gke-k9s-default-pool-0fa2fb89-qnkc",
        "cluster_name": "gke",
        "pod_id": "c31fdeb8-cb66-11e9-990f-42010a800218",
        "pod_name": "hello-1567197780-mn4mv",
    }
    without_type_meta = {k: v for k, v in fixture_event().items() if k not in ("kind", "apiVersion")}
    assert json.loads(value) == without_type_meta
    # Go's json.MarshalIndent(event, "", " "): struct field order, one-space indent, and no TypeMeta:
    # Heapster's informer decodes Events without kind/apiVersion.
    assert value.startswith('{\n "metadata": {\n  "name": "hello-')
    assert list(json.loads(value)) == [
        "metadata", "involvedObject", "reason", "message", "source", "firstTimestamp",
        "lastTimestamp", "count", "type", "eventTime", "reportingComponent", "reportingInstance"]
    assert value == event_json(fixture_event())
    assert server.field_types(db_name) == {("log/events", "value"): "string"}


async def test_withfields_schema_stores_the_message_and_event_tags(make_sink, server, db_name) -> None:
    sink = await make_sink("cluster_name=gke&withfields=true", events=True)
    await sink.export_events(EventBatch(NOW, [fixture_event()]))

    assert server.points(db_name) == {(
        "events",
        frozenset({
            "uid": "c443d4b3-cb66-11e9-990f-42010a800218",
            "object_name": "hello-1567197780-mn4mv",
            "type": "Normal",
            "kind": "Pod",
            "component": "kubelet",
            "reason": "Pulled",
            "namespace_name": "default",
            "hostname": "gke-k9s-default-pool-0fa2fb89-qnkc",
            "cluster_name": "gke",
            "pod_id": "c31fdeb8-cb66-11e9-990f-42010a800218",
        }.items()),
        "message", 'Successfully pulled image "blang/busybox-bash"', LAST_TIMESTAMP_NS,
    )}


async def test_non_pod_events_have_no_pod_tags_and_many_events_are_chunked(make_sink, server, db_name) -> None:
    sink = await make_sink(events=True)
    events = []
    for i in range(2500):
        event = fixture_event()
        event["metadata"]["uid"] = f"uid-{i}"
        event["involvedObject"]["kind"] = "Node"
        event["lastTimestamp"] = f"2019-08-30T20:{i // 60 % 60:02d}:{i % 60:02d}Z"
        events.append(event)
    await sink.export_events(EventBatch(NOW, events))

    (result,) = server.query('SELECT COUNT("value") FROM "log/events"', db_name)
    assert result["series"][0]["values"][0][1] == 2500
    (result,) = server.query('SHOW TAG KEYS FROM "log/events"', db_name)
    assert {row[0] for row in result["series"][0]["values"]} == {"uid", "hostname", "cluster_name"}


async def test_an_empty_batch_sends_nothing(make_sink) -> None:
    # Nothing listens on this port: any request would fail the export.
    sink = await make_sink(events=True, start=False, hostport=f"127.0.0.1:{free_port()}")
    await sink.export_events(EventBatch(NOW, []))
