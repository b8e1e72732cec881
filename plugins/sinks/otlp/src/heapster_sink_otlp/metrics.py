"""One batch as OTLP ``ExportMetricsServiceRequest`` messages: one resource per metric set.

Gauges are OTLP gauges; cumulative metrics are monotonic cumulative sums whose start time is the
metric set's ``collection_start`` (the kubelet's start time of the container), so a restart shows
as a new start time rather than a counter drop.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric, NumberDataPoint

from heapster.catalogue import describe
from heapster.model import DataBatch, MetricSet, MetricType, Unit
from heapster_sink_otlp.resource import resource_attributes

SCOPE_NAME = "heapster"
SCOPE_VERSION = "1.0.0"
METRIC_PREFIX = "heapster."
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE

UCUM: dict[Unit, str] = {Unit.BYTES: "By", Unit.MILLISECONDS: "ms", Unit.NANOSECONDS: "ns",
                         Unit.MILLICORES: "m{cpu}", Unit.COUNT: "1"}
"""Heapster units in UCUM, as OpenTelemetry spells units."""


def unix_nano(when: datetime | None) -> int:
    """Nanoseconds since the epoch (0 for unknown)."""
    if when is None:
        return 0
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000


@lru_cache(maxsize=4096)
def metric_info(name: str) -> tuple[str, str, str]:
    """``(otlp name, description, unit)`` of a Heapster metric: ``cpu/usage_rate`` -> ``heapster.cpu.usage_rate``."""
    descriptor = describe(name)
    unit = UCUM.get(descriptor.units, "") if descriptor is not None else ""
    if name.startswith("filesystem/inodes"):
        unit = "{inode}"
    description = descriptor.description if descriptor is not None else f"Heapster metric {name}"
    return METRIC_PREFIX + name.replace("/", "."), description, unit


def _set_value(point: NumberDataPoint, value: float) -> None:
    if type(value) is int:
        point.as_int = value
    else:
        point.as_double = float(value)


def _new_metric(metrics: object, name: str, metric_type: MetricType) -> Metric:
    otlp_name, description, unit = metric_info(name)
    metric: Metric = metrics.add(name=otlp_name, description=description, unit=unit)  # type: ignore[attr-defined]
    if metric_type is MetricType.CUMULATIVE:
        metric.sum.aggregation_temporality = CUMULATIVE
        metric.sum.is_monotonic = True
    else:
        metric.gauge.SetInParent()
    return metric


def _points(metric: Metric) -> object:
    return metric.sum.data_points if metric.HasField("sum") else metric.gauge.data_points


def _add_set(request: ExportMetricsServiceRequest, metric_set: MetricSet, now: int, cluster_name: str) -> int:
    resource_metrics = request.resource_metrics.add()
    attributes = resource_metrics.resource.attributes
    for key, text in resource_attributes(metric_set.labels, cluster_name):
        attributes.add(key=key).value.string_value = text
    scope = resource_metrics.scope_metrics.add()
    scope.scope.name, scope.scope.version = SCOPE_NAME, SCOPE_VERSION
    metrics = scope.metrics
    start = unix_nano(metric_set.collection_start or metric_set.create_time)
    for name, value in metric_set.values.items():
        metric = _new_metric(metrics, name, value.metric_type)
        point = _points(metric).add(time_unix_nano=now)  # type: ignore[attr-defined]
        if value.metric_type is MetricType.CUMULATIVE:
            point.start_time_unix_nano = start
        _set_value(point, value.value)
    by_name: dict[str, Metric] = {}
    for labeled in metric_set.labeled:
        metric = by_name.get(labeled.name) or _new_metric(metrics, labeled.name, labeled.metric_type)
        by_name[labeled.name] = metric
        point = _points(metric).add(time_unix_nano=now)  # type: ignore[attr-defined]
        if labeled.metric_type is MetricType.CUMULATIVE:
            point.start_time_unix_nano = start
        for key, text in labeled.labels.items():
            point.attributes.add(key=key).value.string_value = text
        _set_value(point, labeled.value)
    return len(metric_set.values) + len(metric_set.labeled)


def encode_metrics(batch: DataBatch, max_resources: int = 1000, cluster_name: str = "") -> Iterator[bytes]:
    """Serialized requests of at most ``max_resources`` metric sets each, stamped with the batch time."""
    now = unix_nano(batch.timestamp)
    request = ExportMetricsServiceRequest()
    count = 0
    for metric_set in batch.metric_sets.values():
        if not metric_set.values and not metric_set.labeled:
            continue
        _add_set(request, metric_set, now, cluster_name)
        count += 1
        if count >= max_resources:
            yield request.SerializeToString()
            request, count = ExportMetricsServiceRequest(), 0
    if count:
        yield request.SerializeToString()
