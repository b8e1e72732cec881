"""Heapster's batch -> Cloud Monitoring time series, as ``metrics/sinks/stackdriver/stackdriver.go`` translated it.

Only node, pod, pod container and system container sets are written, and only sets with a collection
start time. Each value maps to at most one series per resource model: the old model writes
``container.googleapis.com/container/*`` on ``gke_container`` (nodes as container ``machine``), the
new model ``kubernetes.io/*`` on ``k8s_container``, ``k8s_pod`` and ``k8s_node``. Two values are derived:
``memory/bytes_used`` (usage - working set, the evictable part) and ``memory/minor_page_faults``.
Gauges have start = end = the batch time; cumulative series start at the set's collection start
(``restart_count`` at its create time). A set whose collection start is not before the batch time is
skipped for plain values, as Heapster did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.api import metric_pb2, monitored_resource_pb2
from google.cloud import monitoring_v3
from google.protobuf import timestamp_pb2

from heapster import keys
from heapster.model import DataBatch, LabeledMetric, MetricSet
from heapster_sink_stackdriver.descriptors import CUMULATIVE, DESCRIPTORS, K8S, LEGACY

TimeSeries: Any = monitoring_v3.TimeSeries.pb()
Point: Any = monitoring_v3.Point.pb()
TimeInterval: Any = monitoring_v3.TimeInterval.pb()
TypedValue: Any = monitoring_v3.TypedValue.pb()

END, COLLECTION, CREATED = "end", "collection", "created"
"""Where a point's interval starts: at the batch time (gauges), the collection start or the create time."""

Convert = Callable[[int | float], int | float]


def _int(value: int | float) -> int:
    return int(value)


def _thousandths(value: int | float) -> float:
    return float(value) / 1000


def _nanoseconds(value: int | float) -> float:
    return float(int(value)) / 1e9


def _milliseconds(value: int | float) -> float:
    return float(int(value)) / 1000


@dataclass(frozen=True, slots=True)
class Rule:
    """How one Heapster metric becomes one series: metric type, interval start, value conversion, labels."""

    metric_type: str
    start: str
    convert: Convert = _int
    labels: tuple[tuple[str, str], ...] = ()


def _rule(metric_type: str, start: str = END, convert: Convert = _int, **labels: str) -> Rule:
    return Rule(metric_type, start, convert, tuple(labels.items()))


LEGACY_RULES: dict[str, Rule] = {
    "uptime": _rule(f"{LEGACY}/uptime", COLLECTION, _milliseconds),
    "cpu/limit": _rule(f"{LEGACY}/cpu/reserved_cores", END, _thousandths),
    "cpu/usage": _rule(f"{LEGACY}/cpu/usage_time", COLLECTION, _nanoseconds),
    "network/rx": _rule(f"{LEGACY}/network/received_bytes_count", COLLECTION),
    "network/tx": _rule(f"{LEGACY}/network/sent_bytes_count", COLLECTION),
    "memory/limit": _rule(f"{LEGACY}/memory/bytes_total"),  # not for nodes: memory/node_allocatable instead
    "memory/node_allocatable": _rule(f"{LEGACY}/memory/bytes_total"),
    "memory/major_page_faults": _rule(f"{LEGACY}/memory/page_fault_count", COLLECTION, fault_type="major"),
    "memory/bytes_used": _rule(f"{LEGACY}/memory/bytes_used", memory_type="evictable"),
    "nvidia.com/gpu/request": _rule(f"{LEGACY}/accelerator/request", resource_name="nvidia.com/gpu"),
    "memory/working_set": _rule(f"{LEGACY}/memory/bytes_used", memory_type="non-evictable"),
    "memory/minor_page_faults": _rule(f"{LEGACY}/memory/page_fault_count", COLLECTION, fault_type="minor"),
}

NEW_RULES: dict[str, dict[str, Rule]] = {
    keys.POD_CONTAINER: {
        "uptime": _rule(f"{K8S}/container/uptime", END, _milliseconds),
        "cpu/limit": _rule(f"{K8S}/container/cpu/limit_cores", END, _thousandths),
        "cpu/request": _rule(f"{K8S}/container/cpu/request_cores", END, _thousandths),
        "cpu/usage": _rule(f"{K8S}/container/cpu/core_usage_time", COLLECTION, _nanoseconds),
        "memory/limit": _rule(f"{K8S}/container/memory/limit_bytes"),
        "memory/bytes_used": _rule(f"{K8S}/container/memory/used_bytes", memory_type="evictable"),
        "nvidia.com/gpu/request": _rule(f"{K8S}/container/accelerator/request", resource_name="nvidia.com/gpu"),
        "memory/working_set": _rule(f"{K8S}/container/memory/used_bytes", memory_type="non-evictable"),
        "memory/request": _rule(f"{K8S}/container/memory/request_bytes"),
        "ephemeral_storage/limit": _rule(f"{K8S}/container/ephemeral_storage/limit_bytes"),
        "ephemeral_storage/request": _rule(f"{K8S}/container/ephemeral_storage/request_bytes"),
        "ephemeral_storage/usage": _rule(f"{K8S}/container/ephemeral_storage/used_bytes"),
        "restart_count": _rule(f"{K8S}/container/restart_count", CREATED),
    },
    keys.POD: {
        "network/rx": _rule(f"{K8S}/pod/network/received_bytes_count", COLLECTION),
        "network/tx": _rule(f"{K8S}/pod/network/sent_bytes_count", COLLECTION),
    },
    keys.NODE: {
        "cpu/node_capacity": _rule(f"{K8S}/node/cpu/total_cores", END, _thousandths),
        "cpu/node_allocatable": _rule(f"{K8S}/node/cpu/allocatable_cores", END, _thousandths),
        "cpu/usage": _rule(f"{K8S}/node/cpu/core_usage_time", COLLECTION, _nanoseconds),
        "memory/node_capacity": _rule(f"{K8S}/node/memory/total_bytes"),
        "memory/node_allocatable": _rule(f"{K8S}/node/memory/allocatable_bytes"),
        "memory/bytes_used": _rule(f"{K8S}/node/memory/used_bytes", memory_type="evictable"),
        "memory/working_set": _rule(f"{K8S}/node/memory/used_bytes", memory_type="non-evictable"),
        "network/rx": _rule(f"{K8S}/node/network/received_bytes_count", COLLECTION),
        "network/tx": _rule(f"{K8S}/node/network/sent_bytes_count", COLLECTION),
        "ephemeral_storage/node_capacity": _rule(f"{K8S}/node/ephemeral_storage/total_bytes"),
    },
    keys.SYS_CONTAINER: {
        "memory/bytes_used": _rule(f"{K8S}/node_daemon/memory/used_bytes", memory_type="evictable"),
        "memory/working_set": _rule(f"{K8S}/node_daemon/memory/used_bytes", memory_type="non-evictable"),
        "cpu/usage": _rule(f"{K8S}/node_daemon/cpu/core_usage_time", COLLECTION, _nanoseconds),
    },
}
"""New-model rules by metric set type; system container series also get ``component`` = container name."""

ACCELERATOR_METRICS = ("accelerator/memory_total", "accelerator/memory_used", "accelerator/duty_cycle")
ACCELERATOR_LABELS = ("make", "model", "accelerator_id")
EXPORTED_TYPES = frozenset({keys.NODE, keys.POD, keys.POD_CONTAINER, keys.SYS_CONTAINER})


@dataclass(frozen=True, slots=True)
class Target:
    """Where the series go: project, cluster and which resource models."""

    project: str
    cluster_name: str = ""
    cluster_location: str = ""
    zone: str = ""
    use_old_resources: bool = True
    use_new_resources: bool = False


def _timestamp(when: datetime) -> Any:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


class _SetContext:
    """The per-set parts every series of one metric set shares."""

    def __init__(self, target: Target, metric_set: MetricSet, end: Any, end_time: datetime) -> None:
        labels = metric_set.labels
        self.labels = labels
        self.set_type = labels.get("type", "")
        self.end = end
        self.collection = _timestamp(metric_set.collection_start) if metric_set.collection_start else end
        self.created = _timestamp(metric_set.create_time) if metric_set.create_time else None
        self.values_ok = metric_set.collection_start is not None and metric_set.collection_start < end_time
        t = target
        container = "machine" if self.set_type == keys.NODE else labels.get("container_name", "")
        self.legacy = {"project_id": t.project, "cluster_name": t.cluster_name, "zone": t.zone,
                       # host_id is the GCE instance id on GKE; elsewhere it can be empty, and then the
                       # machine and system containers of every node would be one series (Cloud Monitoring
                       # refuses the duplicates), so the node name stands in.
                       "instance_id": labels.get("host_id") or labels.get("nodename", ""),
                       "namespace_id": labels.get("namespace_id", ""),
                       "pod_id": labels.get("pod_id", ""), "container_name": container}
        base = {"project_id": t.project, "location": t.cluster_location, "cluster_name": t.cluster_name}
        pod = {**base, "namespace_name": labels.get("namespace_name", ""), "pod_name": labels.get("pod_name", "")}
        self._resources: dict[tuple[str, int], Any] = {}
        self.new: dict[str, tuple[str, dict[str, str]]] = {
            keys.POD_CONTAINER: ("k8s_container", {**pod, "container_name": labels.get("container_name", "")}),
            keys.POD: ("k8s_pod", pod),
            keys.NODE: ("k8s_node", {**base, "node_name": labels.get("nodename", "")}),
            keys.SYS_CONTAINER: ("k8s_node", {**base, "node_name": labels.get("nodename", "")}),
        }

    def resource(self, resource_type: str, labels: Mapping[str, str]) -> Any:
        """The monitored resource, built once per set and type (series copy it)."""
        key = (resource_type, id(labels))
        found = self._resources.get(key)
        if found is None:
            found = self._resources[key] = monitored_resource_pb2.MonitoredResource(type=resource_type,
                                                                                    labels=labels)
        return found

    def series(self, resource_type: str, resource_labels: Mapping[str, str], rule: Rule, value: int | float,
               extra_labels: Mapping[str, str] | None = None) -> Any:
        descriptor = DESCRIPTORS[rule.metric_type]
        if descriptor.kind == CUMULATIVE:
            start = {END: self.end, COLLECTION: self.collection, CREATED: self.created}[rule.start]
        else:
            start = self.end
        converted = rule.convert(value)
        typed = (TypedValue(double_value=float(converted)) if descriptor.value_type == DOUBLE_TYPE
                 else TypedValue(int64_value=int(converted)))
        metric_labels = dict(rule.labels)
        if extra_labels:
            metric_labels.update(extra_labels)
        return TimeSeries(metric=metric_pb2.Metric(type=rule.metric_type, labels=metric_labels),
                          resource=self.resource(resource_type, resource_labels),
                          metric_kind=descriptor.kind, value_type=descriptor.value_type,
                          points=[Point(interval=TimeInterval(end_time=self.end, start_time=start), value=typed)])


DOUBLE_TYPE = DESCRIPTORS[f"{LEGACY}/uptime"].value_type


def _derived(metric_set: MetricSet) -> dict[str, int]:
    values = metric_set.values
    out: dict[str, int] = {}
    if "memory/usage" in values and "memory/working_set" in values:
        out["memory/bytes_used"] = int(values["memory/usage"].value) - int(values["memory/working_set"].value)
    if "memory/page_faults" in values and "memory/major_page_faults" in values:
        out["memory/minor_page_faults"] = (int(values["memory/page_faults"].value)
                                           - int(values["memory/major_page_faults"].value))
    return out


def _value_series(ctx: _SetContext, target: Target, values: Mapping[str, int | float]) -> Iterator[Any]:
    if not ctx.values_ok:
        return
    if target.use_old_resources:
        for name, value in values.items():
            rule = LEGACY_RULES.get(name)
            if rule is None or (name == "memory/limit" and ctx.set_type == keys.NODE):
                continue
            yield ctx.series("gke_container", ctx.legacy, rule, value)
    if target.use_new_resources:
        rules = NEW_RULES.get(ctx.set_type, {})
        resource_type, resource_labels = ctx.new[ctx.set_type]
        for name, value in values.items():
            rule = rules.get(name)
            if rule is None or (rule.start == CREATED and ctx.created is None):
                continue
            extra = {"component": ctx.labels.get("container_name", "")} if ctx.set_type == keys.SYS_CONTAINER else None
            yield ctx.series(resource_type, resource_labels, rule, value, extra)


def _legacy_labeled(ctx: _SetContext, metric: LabeledMetric) -> Any:
    if metric.name == "filesystem/usage":
        rule, labels = _rule(f"{LEGACY}/disk/bytes_used"), {"device_name": metric.labels.get("resource_id", "")}
    elif metric.name == "filesystem/limit":
        rule, labels = _rule(f"{LEGACY}/disk/bytes_total"), {"device_name": metric.labels.get("resource_id", "")}
    elif metric.name in ACCELERATOR_METRICS:
        rule = _rule(f"{LEGACY}/{metric.name}")
        labels = {k: metric.labels.get(k, "") for k in ACCELERATOR_LABELS}
    else:
        return None
    return ctx.series("gke_container", ctx.legacy, rule, metric.value, labels)


def _new_labeled(ctx: _SetContext, metric: LabeledMetric) -> Any:
    if ctx.set_type == keys.POD and metric.name in ("filesystem/usage", "filesystem/limit"):
        kind = "used_bytes" if metric.name == "filesystem/usage" else "total_bytes"
        volume = metric.labels.get("resource_id", "").removeprefix("Volume:")
        resource_type, resource_labels = ctx.new[keys.POD]
        return ctx.series(resource_type, resource_labels, _rule(f"{K8S}/pod/volume/{kind}"), metric.value,
                          {"volume_name": volume})
    if ctx.set_type == keys.POD_CONTAINER and metric.name in ACCELERATOR_METRICS:
        resource_type, resource_labels = ctx.new[keys.POD_CONTAINER]
        return ctx.series(resource_type, resource_labels, _rule(f"{K8S}/container/{metric.name}"), metric.value,
                          {k: metric.labels.get(k, "") for k in ACCELERATOR_LABELS})
    return None


def time_series(batch: DataBatch, target: Target) -> Iterator[Any]:
    """Every series Heapster wrote for the batch, in Heapster's order."""
    end = _timestamp(batch.timestamp)
    for metric_set in batch.metric_sets.values():
        set_type = metric_set.labels.get("type", "")
        if set_type not in EXPORTED_TYPES or metric_set.collection_start is None:
            continue
        ctx = _SetContext(target, metric_set, end, batch.timestamp)
        yield from _value_series(ctx, target, {n: v.value for n, v in metric_set.values.items()})
        yield from _value_series(ctx, target, _derived(metric_set))
        for metric in metric_set.labeled:
            if target.use_old_resources and (series := _legacy_labeled(ctx, metric)) is not None:
                yield series
            if target.use_new_resources and (series := _new_labeled(ctx, metric)) is not None:
                yield series
