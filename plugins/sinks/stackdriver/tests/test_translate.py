"""Heapster's translation to time series (metrics/sinks/stackdriver/stackdriver_test.go and stackdriver.go)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricValue
from heapster_sink_stackdriver.translate import Target, time_series

T = datetime(2018, 3, 2, 10, 0, 0, tzinfo=UTC)
START = T - timedelta(hours=1)
CREATED = T - timedelta(hours=2)
OLD = Target("test-project-id", "c1", "europe-west1", "europe-west1-c", use_old_resources=True,
             use_new_resources=False)
NEW = Target("test-project-id", "c1", "europe-west1", "europe-west1-c", use_old_resources=False,
             use_new_resources=True)
LABELS = {
    "pod_container": {"type": "pod_container", "namespace_name": "ns", "pod_name": "p", "container_name": "app",
                      "pod_id": "uid-p", "namespace_id": "uid-ns", "host_id": "h-1", "nodename": "node-1"},
    "pod": {"type": "pod", "namespace_name": "ns", "pod_name": "p", "pod_id": "uid-p", "namespace_id": "uid-ns",
            "host_id": "h-1", "nodename": "node-1"},
    "node": {"type": "node", "nodename": "node-1", "host_id": "h-1"},
    "sys_container": {"type": "sys_container", "nodename": "node-1", "host_id": "h-1", "container_name": "kubelet"},
}


def translate(target: Target, set_type: str, values: dict[str, int | float] | None = None,
              labeled: list[LabeledMetric] | None = None, start: datetime | None = START) -> list[Any]:
    metric_set = MetricSet(labels=dict(LABELS[set_type]), values={k: MetricValue(v) for k, v in (values or {}).items()},
                           labeled=labeled or [], collection_start=start, create_time=CREATED, scrape_time=T)
    return list(time_series(DataBatch(T, {"k": metric_set}), target))


def value(series: Any) -> int | float:
    point = series.points[0].value
    return point.double_value if point.WhichOneof("value") == "double_value" else point.int64_value


@pytest.mark.parametrize(("name", "raw", "metric_type", "expected"), [
    ("uptime", 30000, "container.googleapis.com/container/uptime", 30.0),
    ("cpu/usage", 3600000000000, "container.googleapis.com/container/cpu/usage_time", 3600.0),
    ("cpu/limit", 2000, "container.googleapis.com/container/cpu/reserved_cores", 2.0),
    ("memory/limit", 2048, "container.googleapis.com/container/memory/bytes_total", 2048),
    ("network/rx", 5, "container.googleapis.com/container/network/received_bytes_count", 5),
    ("memory/major_page_faults", 20, "container.googleapis.com/container/memory/page_fault_count", 20),
])
def test_old_model_values(name: str, raw: int, metric_type: str, expected: float) -> None:
    (series,) = translate(OLD, "pod_container", {name: raw})
    assert series.metric.type == metric_type and value(series) == expected
    assert type(value(series)) is type(expected)
    assert series.resource.type == "gke_container"
    assert dict(series.resource.labels) == {"project_id": "test-project-id", "cluster_name": "c1",
                                            "zone": "europe-west1-c", "instance_id": "h-1", "namespace_id": "uid-ns",
                                            "pod_id": "uid-p", "container_name": "app"}


def test_old_model_nodes_are_container_machine_and_use_allocatable_for_bytes_total() -> None:
    series = translate(OLD, "node", {"memory/limit": 1, "memory/node_allocatable": 2})
    assert [(s.metric.type, value(s)) for s in series] == [("container.googleapis.com/container/memory/bytes_total", 2)]
    assert series[0].resource.labels["container_name"] == "machine"


def test_old_model_derives_evictable_memory_and_minor_page_faults() -> None:
    series = translate(OLD, "pod_container", {"memory/usage": 100, "memory/working_set": 70,
                                              "memory/page_faults": 50, "memory/major_page_faults": 8})
    got = {(s.metric.type, tuple(sorted(s.metric.labels.items()))): value(s) for s in series}
    assert got == {
        ("container.googleapis.com/container/memory/bytes_used", (("memory_type", "non-evictable"),)): 70,
        ("container.googleapis.com/container/memory/bytes_used", (("memory_type", "evictable"),)): 30,
        ("container.googleapis.com/container/memory/page_fault_count", (("fault_type", "major"),)): 8,
        ("container.googleapis.com/container/memory/page_fault_count", (("fault_type", "minor"),)): 42,
    }


def test_old_model_filesystem_per_device() -> None:
    labeled = [LabeledMetric("filesystem/usage", {"resource_id": "/dev/sda1"}, 10),
               LabeledMetric("filesystem/limit", {"resource_id": "/dev/sda1"}, 100)]
    series = translate(OLD, "pod_container", labeled=labeled)
    assert [(s.metric.type, dict(s.metric.labels), value(s)) for s in series] == [
        ("container.googleapis.com/container/disk/bytes_used", {"device_name": "/dev/sda1"}, 10),
        ("container.googleapis.com/container/disk/bytes_total", {"device_name": "/dev/sda1"}, 100)]


@pytest.mark.parametrize(("set_type", "name", "raw", "metric_type", "expected"), [
    ("pod_container", "uptime", 1000, "kubernetes.io/container/uptime", 1.0),
    ("pod_container", "cpu/usage", 2000000000, "kubernetes.io/container/cpu/core_usage_time", 2.0),
    ("pod_container", "cpu/request", 3000, "kubernetes.io/container/cpu/request_cores", 3.0),
    ("pod_container", "cpu/limit", 4000, "kubernetes.io/container/cpu/limit_cores", 4.0),
    ("pod_container", "memory/request", 6, "kubernetes.io/container/memory/request_bytes", 6),
    ("pod_container", "memory/limit", 7, "kubernetes.io/container/memory/limit_bytes", 7),
    ("pod_container", "ephemeral_storage/usage", 5, "kubernetes.io/container/ephemeral_storage/used_bytes", 5),
    ("pod_container", "ephemeral_storage/request", 6, "kubernetes.io/container/ephemeral_storage/request_bytes", 6),
    ("pod_container", "ephemeral_storage/limit", 7, "kubernetes.io/container/ephemeral_storage/limit_bytes", 7),
    ("pod_container", "restart_count", 8, "kubernetes.io/container/restart_count", 8),
    ("pod", "network/rx", 9, "kubernetes.io/pod/network/received_bytes_count", 9),
    ("pod", "network/tx", 10, "kubernetes.io/pod/network/sent_bytes_count", 10),
    ("node", "cpu/usage", 13000000000, "kubernetes.io/node/cpu/core_usage_time", 13.0),
    ("node", "cpu/node_capacity", 14000.0, "kubernetes.io/node/cpu/total_cores", 14.0),
    ("node", "cpu/node_allocatable", 15000.0, "kubernetes.io/node/cpu/allocatable_cores", 15.0),
    ("node", "memory/node_capacity", 17.0, "kubernetes.io/node/memory/total_bytes", 17),
    ("node", "memory/node_allocatable", 18.0, "kubernetes.io/node/memory/allocatable_bytes", 18),
    ("node", "network/rx", 19, "kubernetes.io/node/network/received_bytes_count", 19),
    ("node", "network/tx", 20, "kubernetes.io/node/network/sent_bytes_count", 20),
    ("sys_container", "cpu/usage", 21000000000, "kubernetes.io/node_daemon/cpu/core_usage_time", 21.0),
])
def test_new_model_values(set_type: str, name: str, raw: float, metric_type: str, expected: float) -> None:
    (series,) = translate(NEW, set_type, {name: raw})
    assert series.metric.type == metric_type and value(series) == expected
    assert type(value(series)) is type(expected)


def test_new_model_resources_and_intervals() -> None:
    (container,) = translate(NEW, "pod_container", {"cpu/usage": 1})
    assert container.resource.type == "k8s_container"
    assert dict(container.resource.labels) == {"project_id": "test-project-id", "location": "europe-west1",
                                               "cluster_name": "c1", "namespace_name": "ns", "pod_name": "p",
                                               "container_name": "app"}
    interval = container.points[0].interval
    assert interval.start_time.ToDatetime(UTC) == START and interval.end_time.ToDatetime(UTC) == T
    (restarts,) = translate(NEW, "pod_container", {"restart_count": 1})
    assert restarts.points[0].interval.start_time.ToDatetime(UTC) == CREATED
    (gauge,) = translate(NEW, "pod_container", {"memory/limit": 1})
    assert gauge.points[0].interval.start_time == gauge.points[0].interval.end_time
    (node,) = translate(NEW, "node", {"network/rx": 1})
    assert node.resource.type == "k8s_node" and dict(node.resource.labels)["node_name"] == "node-1"
    (daemon,) = translate(NEW, "sys_container", {"cpu/usage": 1})
    assert daemon.resource.type == "k8s_node" and dict(daemon.metric.labels) == {"component": "kubelet"}


def test_new_model_pod_volumes_drop_the_volume_prefix() -> None:
    labeled = [LabeledMetric("filesystem/usage", {"resource_id": "Volume:data"}, 12)]
    (series,) = translate(NEW, "pod", labeled=labeled)
    assert series.metric.type == "kubernetes.io/pod/volume/used_bytes"
    assert dict(series.metric.labels) == {"volume_name": "data"} and series.resource.type == "k8s_pod"


def test_both_models_at_once_and_the_sets_heapster_skipped() -> None:
    both = Target("p", use_old_resources=True, use_new_resources=True, zone="z")
    assert [s.metric.type for s in translate(both, "pod_container", {"cpu/usage": 1})] == [
        "container.googleapis.com/container/cpu/usage_time", "kubernetes.io/container/cpu/core_usage_time"]
    assert translate(both, "pod_container", {"cpu/usage": 1}, start=None) == []
    assert translate(both, "pod_container", {"cpu/usage": 1}, start=T) == []  # start not before the batch time
    cluster = MetricSet(labels={"type": "cluster"}, values={"cpu/usage": MetricValue(1)}, collection_start=START)
    assert list(time_series(DataBatch(T, {"cluster": cluster}), both)) == []


def test_the_batch_is_not_changed() -> None:
    node = MetricSet(labels=dict(LABELS["node"]), values={"cpu/usage": MetricValue(1)}, collection_start=START)
    list(time_series(DataBatch(T, {"node": node}), OLD))
    assert "container_name" not in node.labels  # Heapster wrote "machine" into the shared batch


def test_without_host_id_the_node_name_keeps_the_old_model_series_apart() -> None:
    sets = {f"node:{n}": MetricSet(labels={"type": "node", "nodename": n}, values={"uptime": MetricValue(5000)},
                                   collection_start=START) for n in ("a", "b")}
    series = list(time_series(DataBatch(T, sets), OLD))
    assert [s.resource.labels["instance_id"] for s in series] == ["a", "b"]
