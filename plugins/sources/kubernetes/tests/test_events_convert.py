"""events.k8s.io/v1 Events become core/v1-shaped dicts, so sinks see one shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from heapster.model import EventBatch
from heapster.sinks.log import format_events
from heapster.testing.fixtures import FIXTURES
from heapster_source_kubernetes.events import core_v1_event


def test_every_field_of_the_round_trip_fixture_lands_where_core_v1_has_it() -> None:
    new = json.loads((FIXTURES / "event-events.k8s.io-v1-roundtrip-schema.json").read_text(encoding="utf-8"))
    core = core_v1_event(new)
    assert (core["kind"], core["apiVersion"]) == ("Event", "v1")
    assert core["metadata"]["uid"] == "7"
    assert core["involvedObject"] == new["regarding"]
    assert core["message"] == "36"
    assert core["reason"] == "23"
    assert core["type"] == "37"
    assert core["source"] == {"component": "38", "host": "39"}
    assert core["firstTimestamp"] == "2235-03-09T09:44:15Z"
    assert core["lastTimestamp"] == "2964-12-12T12:04:40Z"
    assert core["count"] == -180456314
    assert core["eventTime"] == "2482-03-20T23:11:25.602224Z"
    assert core["series"] == new["series"]
    assert core["related"] == new["related"]
    assert (core["reportingComponent"], core["reportingInstance"], core["action"]) == ("20", "21", "22")


def test_a_new_style_event_without_deprecated_fields_gets_time_count_and_component() -> None:
    new = {"metadata": {"name": "e", "namespace": "ns", "uid": "u1", "resourceVersion": "5"},
           "eventTime": "2026-01-02T03:04:05.000001Z", "reportingController": "kubelet",
           "reportingInstance": "node-1", "reason": "Pulled", "note": "pulled", "type": "Normal",
           "regarding": {"kind": "Pod", "name": "p", "namespace": "ns", "uid": "pod-1"},
           "series": {"count": 4, "lastObservedTime": "2026-01-02T03:09:00.000000Z"}}
    core = core_v1_event(new)
    assert core["lastTimestamp"] == "2026-01-02T03:09:00.000000Z"
    assert core["firstTimestamp"] == "2026-01-02T03:04:05.000001Z"
    assert core["count"] == 4
    assert core["source"] == {"component": "kubelet"}
    # the built-in log sink prints it like a core/v1 event
    text = format_events(EventBatch(timestamp=datetime(2026, 1, 1, tzinfo=UTC), events=[core]))
    assert "(cnt:4): pulled" in text

