"""Metrics and events encoded with the official messages, checked by the strict receiver's validators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import SeverityNumber

from heapster.model import DataBatch, EventBatch, LabeledMetric, MetricType, MetricValue
from heapster.testing import synthetic_batch, synthetic_event
from heapster_sink_otlp.logs import encode_events
from heapster_sink_otlp.metrics import CUMULATIVE, encode_metrics, metric_info, unix_nano
from heapster_sink_otlp.resource import resource_attributes
from heapster_sink_otlp.testing import Point, check_logs, check_metrics

STAMP = datetime(2026, 5, 4, 3, 2, 1, 250000, tzinfo=UTC)


def _points(bodies: list[bytes]) -> list[Point]:
    return [p for body in bodies for p in check_metrics(ExportMetricsServiceRequest.FromString(body))]


def test_every_series_with_kubernetes_resource_attributes() -> None:
    batch = synthetic_batch(STAMP, nodes=2, pods=2, containers=2, seq=3)
    points = _points(list(encode_metrics(batch)))
    assert len(points) == sum(len(s.values) + len(s.labeled) for s in batch.metric_sets.values())
    key = "namespace:default/pod:pod-1-0/container:c1"
    container = batch.metric_sets[key]
    mine = [p for p in points if p.resource.get("k8s.container.name") == "c1"
            and p.resource.get("k8s.pod.name") == "pod-1-0"]
    assert {p.name for p in mine} == {f"heapster.{n.replace('/', '.')}" for n in
                                      [*container.values, "filesystem/usage", "filesystem/limit"]}
    resource = mine[0].resource
    assert resource == {"k8s.node.name": "node-1", "host.name": "node-1", "host.id": "host-1",
                        "k8s.namespace.name": "default", "k8s.pod.name": "pod-1-0", "k8s.pod.uid": "uid-1-0",
                        "k8s.container.name": "c1", "container.image.name": "image-1:v1",
                        "heapster.type": "pod_container"}
    by_name = {p.name: p for p in mine}
    cpu = by_name["heapster.cpu.usage"]
    assert (cpu.kind, cpu.monotonic, cpu.unit, cpu.value) == ("sum", True, "ns", container.values["cpu/usage"].value)
    assert cpu.start_time_unix_nano == unix_nano(container.collection_start)
    assert cpu.time_unix_nano == unix_nano(STAMP)
    memory = by_name["heapster.memory.usage"]
    assert (memory.kind, memory.unit, memory.start_time_unix_nano) == ("gauge", "By", 0)
    fs = by_name["heapster.filesystem.usage"]
    assert fs.attributes == {"resource_id": "/"}
    node_points = [p for p in points if p.resource.get("heapster.type") == "node"]
    assert {p.resource["k8s.node.name"] for p in node_points} == {"node-0", "node-1"}
    assert all("k8s.pod.name" not in p.resource for p in node_points)


def test_batch_size_cluster_name_and_labeled_metrics_grouped() -> None:
    batch = synthetic_batch(STAMP, nodes=3, pods=1, containers=1)
    sets = len(batch.metric_sets)
    bodies = list(encode_metrics(batch, max_resources=4, cluster_name="prod"))
    assert len(bodies) == -(-sets // 4)
    requests = [ExportMetricsServiceRequest.FromString(b) for b in bodies]
    assert sum(len(r.resource_metrics) for r in requests) == sets
    assert all(p.resource["k8s.cluster.name"] == "prod" for p in _points(bodies))
    names = [m.name for m in requests[0].resource_metrics[0].scope_metrics[0].metrics]
    assert len(names) == len(set(names))  # one metric per name; labeled values are its data points


def test_events_as_log_records() -> None:
    when = STAMP - timedelta(minutes=3)
    warning = synthetic_event(when, n=7, count=4) | {"type": "Warning", "reason": "BackOff"}
    node_event = synthetic_event(when, n=8, kind="Node")
    node_event["involvedObject"] |= {"name": "node-9", "namespace": ""}
    batch = EventBatch(STAMP, [warning, node_event])
    records = check_logs(ExportLogsServiceRequest.FromString(encode_events(batch)))
    first, second = records
    assert first["resource"] == {"k8s.namespace.name": "default", "k8s.node.name": "node-0",
                                 "k8s.pod.name": "pod-7", "k8s.pod.uid": "uid-7"}
    assert first["time_unix_nano"] == unix_nano(when)
    assert first["observed_time_unix_nano"] == unix_nano(STAMP)
    assert (first["severity_number"], first["severity_text"]) == (SeverityNumber.SEVERITY_NUMBER_WARN, "Warning")
    assert first["body"] == "Container image pulled (7)"
    assert first["attributes"]["k8s.event.reason"] == "BackOff"
    assert first["attributes"]["k8s.event.count"] == 4
    assert first["attributes"]["k8s.object.kind"] == "Pod"
    assert second["resource"]["k8s.node.name"] == "node-9"
    assert second["severity_number"] == SeverityNumber.SEVERITY_NUMBER_INFO
    assert "k8s.namespace.name" in second["resource"]  # the event object's own namespace


def _reference(batch: DataBatch, cluster_name: str) -> bytes:
    """The batch built plainly with the official messages, one message per metric and point."""
    request = ExportMetricsServiceRequest()
    now = unix_nano(batch.timestamp)
    for metric_set in batch.metric_sets.values():
        rm = request.resource_metrics.add()
        for key, value in resource_attributes(metric_set.labels, cluster_name):
            rm.resource.attributes.add(key=key).value.string_value = value
        metrics = rm.scope_metrics.add().metrics
        start = unix_nano(metric_set.collection_start or metric_set.create_time)
        items = [(n, v.metric_type, v.value, {}) for n, v in metric_set.values.items()]
        items += [(m.name, m.metric_type, m.value, m.labels) for m in metric_set.labeled]
        for name, mtype, value, labels in items:
            otlp_name, description, unit = metric_info(name)
            metric = metrics.add(name=otlp_name, description=description, unit=unit)
            if mtype is MetricType.CUMULATIVE:
                metric.sum.aggregation_temporality, metric.sum.is_monotonic = CUMULATIVE, True
                point = metric.sum.data_points.add(time_unix_nano=now, start_time_unix_nano=start)
            else:
                point = metric.gauge.data_points.add(time_unix_nano=now)
            if isinstance(value, int):
                point.as_int = value
            else:
                point.as_double = value
            for key, text in labels.items():
                point.attributes.add(key=key).value.string_value = text
    return request.SerializeToString()


def _normalized(points: list[Point]) -> list[tuple[object, ...]]:
    return sorted((tuple(sorted(p.resource.items())), p.name, p.kind, p.value, p.time_unix_nano,
                   p.start_time_unix_nano, tuple(sorted(p.attributes.items())), p.unit, p.monotonic)
                  for p in points)


def test_the_framing_decodes_to_the_same_points_as_plain_messages() -> None:
    batch = synthetic_batch(STAMP, nodes=2, pods=2, containers=2, seq=3)
    node = batch.metric_sets["node:node-1"]
    node.labels["labels"] = "x" * 20_000  # lengths beyond two varint bytes
    node.values["custom/ratio"] = MetricValue(0.1 + 0.2, MetricType.GAUGE)
    node.values["custom/negative"] = MetricValue(-(2**62), MetricType.GAUGE)
    node.labeled.append(LabeledMetric("disk/io_read_bytes", {"resource_id": "sda"}, 2**60, MetricType.CUMULATIVE))
    node.labeled.append(LabeledMetric("disk/io_read_bytes", {"resource_id": "sdb"}, 7, MetricType.CUMULATIVE))
    framed = _points(list(encode_metrics(batch, max_resources=5, cluster_name="c")))
    plain = check_metrics(ExportMetricsServiceRequest.FromString(_reference(batch, "c")))
    assert _normalized(framed) == _normalized(plain)
    assert len(framed) == sum(len(s.values) + len(s.labeled) for s in batch.metric_sets.values())
    request = ExportMetricsServiceRequest.FromString(next(encode_metrics(batch, cluster_name="c")))
    reference = ExportMetricsServiceRequest.FromString(_reference(batch, "c"))
    first, expected = request.resource_metrics[0], reference.resource_metrics[0]
    assert first.scope_metrics[0].scope.name == "heapster"
    assert [(m.name, m.description, m.unit) for m in first.scope_metrics[0].metrics] == [
        (m.name, m.description, m.unit) for m in expected.scope_metrics[0].metrics]
