"""Remote-write requests decode with the prompb messages: sorted labels, __name__, batch time, size limits."""

from __future__ import annotations

from datetime import UTC, datetime

import cramjam

from heapster.model import DataBatch, LabeledMetric, MetricType, MetricValue
from heapster.testing import synthetic_batch
from heapster_sink_prometheus.names import family, label_name
from heapster_sink_prometheusremotewrite.encoding import encode_requests
from heapster_sink_prometheusremotewrite.prompb import Label, MetricMetadata, Sample, WriteRequest

STAMP = datetime(2026, 5, 4, 3, 2, 1, 250000, tzinfo=UTC)


def _decode(body: bytes) -> WriteRequest:
    return WriteRequest.FromString(bytes(cramjam.snappy.decompress_raw(body)))


def test_every_value_is_one_series_with_sorted_labels_and_the_batch_time() -> None:
    batch = synthetic_batch(STAMP, nodes=2, pods=2, containers=2, seq=3)
    expected = sum(len(s.values) + len(s.labeled) for s in batch.metric_sets.values())
    requests = list(encode_requests(batch, max_series=10))
    assert sum(r.series for r in requests) == expected
    assert all(r.series <= 10 for r in requests) and len(requests) == -(-expected // 10)
    series = {}
    for request in requests:
        decoded = _decode(request.body)
        assert len(decoded.timeseries) == request.series
        kinds = {m.metric_family_name: m.type for m in decoded.metadata}
        for ts in decoded.timeseries:
            names = [label.name for label in ts.labels]
            assert names == sorted(names) and len(set(names)) == len(names)
            labels = {label.name: label.value for label in ts.labels}
            assert all(labels.values())
            (sample,) = ts.samples
            assert sample.timestamp == 1777863721250
            assert labels["__name__"] in kinds
            series[frozenset(labels.items())] = sample.value
    assert len(series) == expected
    container = batch.metric_sets["namespace:default/pod:pod-1-0/container:c1"]
    key = {"__name__": "heapster_cpu_usage_nanoseconds_total", "type": "pod_container", "nodename": "node-1",
           "hostname": "node-1", "host_id": "host-1", "namespace_name": "default", "pod_name": "pod-1-0",
           "pod_id": "uid-1-0", "container_name": "c1", "container_base_image": "image-1:v1"}
    assert series[frozenset(key.items())] == container.values["cpu/usage"].value
    fs = {**key, "__name__": "heapster_filesystem_usage_bytes", "resource_id": "/"}
    assert series[frozenset(fs.items())] == container.labeled[0].value
    metadata = {m.metric_family_name: m for r in requests for m in _decode(r.body).metadata}
    assert metadata["heapster_cpu_usage_nanoseconds_total"].type == MetricMetadata.COUNTER
    assert metadata["heapster_memory_usage_bytes"].type == MetricMetadata.GAUGE
    assert metadata["heapster_memory_usage_bytes"].unit == "bytes"


def test_prefix_and_an_empty_batch() -> None:
    batch = synthetic_batch(STAMP, nodes=1, pods=0, containers=0)
    (request,) = encode_requests(batch, prefix="k8s_")
    names = {label.value for ts in _decode(request.body).timeseries for label in ts.labels
             if label.name == "__name__"}
    assert names and all(n.startswith("k8s_") for n in names)
    batch.metric_sets.clear()
    assert list(encode_requests(batch)) == []


def _reference(batch: DataBatch) -> list[tuple[tuple[tuple[str, str], ...], float, int]]:
    """The series as built plainly with the prompb messages, one message per series."""
    request = WriteRequest()
    stamp = int(batch.timestamp.timestamp() * 1000)
    for metric_set in batch.metric_sets.values():
        items = [(n, v.metric_type, v.value, {}) for n, v in metric_set.values.items()]
        items += [(m.name, m.metric_type, m.value, m.labels) for m in metric_set.labeled]
        for name, mtype, value, own in items:
            labels = {label_name(k): v for k, v in {**metric_set.labels, **own}.items() if v}
            labels["__name__"] = family(name, mtype).sample
            request.timeseries.add(labels=[Label(name=k, value=v) for k, v in sorted(labels.items())],
                                   samples=[Sample(value=value, timestamp=stamp)])
    return [(tuple((la.name, la.value) for la in ts.labels), ts.samples[0].value, ts.samples[0].timestamp)
            for ts in request.timeseries]


def test_the_framing_equals_a_plain_protobuf_encoding() -> None:
    batch = synthetic_batch(STAMP, nodes=2, pods=2, containers=2, seq=3)
    node = batch.metric_sets["node:node-1"]
    node.labels["labels"] = "x" * 20_000  # a length beyond two varint bytes
    node.labels["Upper"] = "sorted before __name__"
    node.values["custom/ratio"] = MetricValue(0.1 + 0.2, MetricType.GAUGE)
    node.labeled.append(LabeledMetric("filesystem/usage", {"resource_id": "/data", "type": "override"}, 2**60))
    decoded = []
    for request in encode_requests(batch, max_series=13):
        for ts in _decode(request.body).timeseries:
            decoded.append((tuple((la.name, la.value) for la in ts.labels), ts.samples[0].value,
                            ts.samples[0].timestamp))
    assert decoded == _reference(batch)
