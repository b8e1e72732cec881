"""Golden: the stored event JSON is byte-identical to Heapster's (``tests/fixtures/heapster-golden``)."""

from __future__ import annotations

import json

from heapster.testing.fixtures import FIXTURES
from heapster_sink_influxdb.lineproto import event_json

# Written by hand: Go's json.MarshalIndent(event, "", " ") of the fixture decoded into Heapster
# v1.6.0-beta.1's vendored core/v1 Event (struct field order, no TypeMeta from the informer).
GOLDEN = (FIXTURES / "heapster-golden" / "event-influxdb.txt").read_text()
EVENT = json.loads((FIXTURES / "event-core-v1-gke-2019.json").read_text())


def test_event_json_is_heapsters() -> None:
    assert event_json(EVENT) == GOLDEN


def test_fields_heapster_never_had_are_not_stored() -> None:
    """A watch object has kind/apiVersion and a modern API server adds managedFields: Heapster's
    informer dropped the first and its Kubernetes 1.10 ObjectMeta had no field for the second."""
    modern = {**EVENT, "metadata": {**EVENT["metadata"], "managedFields": [
        {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2019-08-30T20:43:05Z"}]}}
    assert event_json(modern) == GOLDEN
    listed = {k: v for k, v in EVENT.items() if k not in ("kind", "apiVersion")}
    assert event_json(listed) == GOLDEN
