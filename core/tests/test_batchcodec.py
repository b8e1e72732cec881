"""The queue's batch codecs give back exactly what they were given: types, metric types, times, labels."""

from __future__ import annotations

from datetime import UTC, datetime

from heapster.batchcodec import DATA_BATCH_CODEC, EVENT_BATCH_CODEC, from_micros, micros
from heapster.model import DataBatch, EventBatch, LabeledMetric, MetricSet, MetricType, MetricValue
from heapster.testing import synthetic_batch, synthetic_event


def test_a_data_batch_round_trips_with_value_and_metric_types() -> None:
    stamp = datetime(2026, 3, 1, 12, 0, 10, 123456, tzinfo=UTC)
    batch = DataBatch(stamp, {
        "node:n1": MetricSet(labels={"type": "node", "nodename": "n1"},
                             values={"cpu/usage": MetricValue(2**63 - 1, MetricType.CUMULATIVE),
                                     "cpu/usage_rate": MetricValue(12.0, MetricType.GAUGE),
                                     "memory/usage": MetricValue(0)},
                             labeled=[LabeledMetric("filesystem/usage", {"resource_id": "/"}, 4096.5,
                                                    MetricType.GAUGE)],
                             collection_start=datetime(2026, 3, 1, tzinfo=UTC), create_time=None,
                             scrape_time=stamp),
        "cluster": MetricSet(labels={"type": "cluster"}),
    })
    back = DATA_BATCH_CODEC.decode(DATA_BATCH_CODEC.encode(batch))
    assert back.timestamp == stamp
    assert list(back.metric_sets) == ["node:n1", "cluster"]
    node = back.metric_sets["node:n1"]
    assert node.labels == {"type": "node", "nodename": "n1"}
    assert node.values == batch.metric_sets["node:n1"].values  # equality checks int vs float too
    assert type(node.values["cpu/usage_rate"].value) is float and type(node.values["memory/usage"].value) is int
    assert node.labeled == batch.metric_sets["node:n1"].labeled
    assert (node.collection_start, node.create_time, node.scrape_time) == (
        datetime(2026, 3, 1, tzinfo=UTC), None, stamp)


def test_a_synthetic_batch_encodes_to_the_same_bytes_after_a_round_trip() -> None:
    batch = synthetic_batch(datetime(2026, 3, 1, tzinfo=UTC), nodes=3, pods=4, containers=2, seq=7)
    data = DATA_BATCH_CODEC.encode(batch)
    assert DATA_BATCH_CODEC.encode(DATA_BATCH_CODEC.decode(data)) == data


def test_an_event_batch_round_trips() -> None:
    stamp = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    batch = EventBatch(stamp, [synthetic_event(stamp, n=i) for i in range(3)])
    back = EVENT_BATCH_CODEC.decode(EVENT_BATCH_CODEC.encode(batch))
    assert back.timestamp == stamp and back.events == batch.events


def test_microseconds_are_exact_far_from_the_epoch() -> None:
    stamp = datetime(2262, 4, 11, 23, 47, 16, 854775, tzinfo=UTC)
    assert from_micros(micros(stamp)) == stamp
