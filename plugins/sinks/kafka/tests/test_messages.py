"""Heapster's Kafka message bytes (metrics/sinks/kafka/driver_test.go, events/sinks/kafka/driver.go)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricValue
from heapster.testing import synthetic_event
from heapster_sink_kafka.messages import event_message, metric_messages

T = datetime(2017, 3, 4, 5, 6, 7, 120000, tzinfo=UTC)


def test_a_metric_value_is_heapsters_exact_json() -> None:
    labels = {"pod_id": "aaaa-bbbb-cccc-dddd", "namespace_id": "123"}
    batch = DataBatch(T, {"pod:x": MetricSet(labels=labels, values={"test/metric/1": MetricValue(123456)})})
    assert list(metric_messages(batch)) == [
        b'{"MetricsName":"test/metric/1","MetricsValue":{"value":123456},"MetricsTimestamp":'
        b'"2017-03-04T05:06:07.12Z","MetricsTags":{"namespace_id":"123","pod_id":"aaaa-bbbb-cccc-dddd"}}']


def test_labeled_metrics_carry_the_set_labels_and_their_own() -> None:
    batch = DataBatch(T, {"node:n": MetricSet(
        labels={"type": "node", "nodename": "n"},
        labeled=[LabeledMetric("filesystem/usage", {"resource_id": "/dev/sda1"}, 4096)])})
    (message,) = metric_messages(batch)
    assert json.loads(message or b"")["MetricsTags"] == {"nodename": "n", "resource_id": "/dev/sda1", "type": "node"}


def test_floats_are_written_as_go_writes_them_and_infinity_is_skipped() -> None:
    values = {"a": MetricValue(2.0), "b": MetricValue(0.25), "c": MetricValue(1.5e-7), "d": MetricValue(float("inf")),
              "e": MetricValue(float("nan"))}  # NaN is "no value" in heapster's columns: no message at all
    batch = DataBatch(T, {"cluster": MetricSet(labels={"type": "cluster"}, values=values)})
    messages = list(metric_messages(batch))
    assert len(messages) == 4
    assert [json.loads(m)["MetricsValue"] for m in messages[:3] if m] == [{"value": 2}, {"value": 0.25},
                                                                          {"value": 1.5e-7}]
    assert b'"value":2}' in (messages[0] or b"") and b'"value":1.5e-7}' in (messages[2] or b"")
    assert messages[3] is None


def test_html_characters_are_escaped_like_go() -> None:
    batch = DataBatch(T, {"pod:x": MetricSet(labels={"app": "a<b>&c"}, values={"m": MetricValue(1)})})
    (message,) = metric_messages(batch)
    assert b'"app":"a\\u003cb\\u003e\\u0026c"' in (message or b"")


def test_an_event_message_has_heapsters_shape() -> None:
    event = synthetic_event(T.replace(microsecond=0), n=7)
    raw = event_message(event)
    assert raw.startswith(b'{"EventValue":"{\\n \\"metadata\\": {\\n  \\"name\\": ')
    message = json.loads(raw)
    assert list(message) == ["EventValue", "EventTimestamp", "EventTags"]
    assert json.loads(message["EventValue"]) == event
    assert message["EventTimestamp"] == "2017-03-04T05:06:07Z"
    assert message["EventTags"] == {"eventID": event["metadata"]["uid"], "hostname": "node-0",
                                    "pod_id": "uid-7", "pod_name": "pod-7"}
    assert list(message["EventTags"]) == sorted(message["EventTags"])


def test_an_event_of_a_node_has_no_pod_tags_and_a_missing_last_timestamp_is_gos_zero_time() -> None:
    event = synthetic_event(T, n=1, kind="Node")
    event["lastTimestamp"] = None
    message = json.loads(event_message(event))
    assert set(message["EventTags"]) == {"eventID", "hostname"}
    assert message["EventTimestamp"] == "0001-01-01T00:00:00Z"
