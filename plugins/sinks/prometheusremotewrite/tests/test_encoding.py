"""Remote-write requests decode with the prompb messages: sorted labels, __name__, batch time, size limits."""

from __future__ import annotations

from datetime import UTC, datetime

import cramjam

from heapster.testing import synthetic_batch
from heapster_sink_prometheusremotewrite.encoding import encode_requests
from heapster_sink_prometheusremotewrite.prompb import MetricMetadata, WriteRequest

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
