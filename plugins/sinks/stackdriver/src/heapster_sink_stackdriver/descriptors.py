"""The metric types Heapster wrote to Stackdriver (``metrics/sinks/stackdriver/metadata.go``) and the
monitored resource types it wrote them for, with the labels each allows."""

from __future__ import annotations

from dataclasses import dataclass

from google.api import metric_pb2

GAUGE = metric_pb2.MetricDescriptor.GAUGE
CUMULATIVE = metric_pb2.MetricDescriptor.CUMULATIVE
INT64 = metric_pb2.MetricDescriptor.INT64
DOUBLE = metric_pb2.MetricDescriptor.DOUBLE


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A metric type: its kind (gauge/cumulative), value type and the metric labels it takes."""

    type: str
    kind: int
    value_type: int
    labels: frozenset[str] = frozenset()


def _d(name: str, kind: int, value_type: int, *labels: str) -> Descriptor:
    return Descriptor(name, kind, value_type, frozenset(labels))


K8S = "kubernetes.io"
LEGACY = "container.googleapis.com/container"
ACCELERATOR_LABELS = ("make", "model", "accelerator_id")

DESCRIPTORS: dict[str, Descriptor] = {d.type: d for d in (
    # k8s_container
    _d(f"{K8S}/container/uptime", GAUGE, DOUBLE),
    _d(f"{K8S}/container/cpu/core_usage_time", CUMULATIVE, DOUBLE),
    _d(f"{K8S}/container/cpu/request_cores", GAUGE, DOUBLE),
    _d(f"{K8S}/container/cpu/limit_cores", GAUGE, DOUBLE),
    _d(f"{K8S}/container/memory/used_bytes", GAUGE, INT64, "memory_type"),
    _d(f"{K8S}/container/memory/request_bytes", GAUGE, INT64),
    _d(f"{K8S}/container/memory/limit_bytes", GAUGE, INT64),
    _d(f"{K8S}/container/ephemeral_storage/used_bytes", GAUGE, INT64),
    _d(f"{K8S}/container/ephemeral_storage/request_bytes", GAUGE, INT64),
    _d(f"{K8S}/container/ephemeral_storage/limit_bytes", GAUGE, INT64),
    _d(f"{K8S}/container/accelerator/memory_total", GAUGE, INT64, *ACCELERATOR_LABELS),
    _d(f"{K8S}/container/accelerator/memory_used", GAUGE, INT64, *ACCELERATOR_LABELS),
    _d(f"{K8S}/container/accelerator/duty_cycle", GAUGE, INT64, *ACCELERATOR_LABELS),
    _d(f"{K8S}/container/accelerator/request", GAUGE, INT64, "resource_name"),
    _d(f"{K8S}/container/restart_count", CUMULATIVE, INT64),
    # k8s_pod
    _d(f"{K8S}/pod/volume/used_bytes", GAUGE, INT64, "volume_name"),
    _d(f"{K8S}/pod/volume/total_bytes", GAUGE, INT64, "volume_name"),
    _d(f"{K8S}/pod/network/received_bytes_count", CUMULATIVE, INT64),
    _d(f"{K8S}/pod/network/sent_bytes_count", CUMULATIVE, INT64),
    # k8s_node
    _d(f"{K8S}/node/cpu/core_usage_time", CUMULATIVE, DOUBLE),
    _d(f"{K8S}/node/cpu/total_cores", GAUGE, DOUBLE),
    _d(f"{K8S}/node/cpu/allocatable_cores", GAUGE, DOUBLE),
    _d(f"{K8S}/node/memory/used_bytes", GAUGE, INT64, "memory_type"),
    _d(f"{K8S}/node/memory/total_bytes", GAUGE, INT64),
    _d(f"{K8S}/node/memory/allocatable_bytes", GAUGE, INT64),
    _d(f"{K8S}/node/ephemeral_storage/total_bytes", GAUGE, INT64),
    _d(f"{K8S}/node/network/received_bytes_count", CUMULATIVE, INT64),
    _d(f"{K8S}/node/network/sent_bytes_count", CUMULATIVE, INT64),
    _d(f"{K8S}/node_daemon/cpu/core_usage_time", CUMULATIVE, DOUBLE, "component"),
    _d(f"{K8S}/node_daemon/memory/used_bytes", GAUGE, INT64, "component", "memory_type"),
    # gke_container (the old resource model)
    _d(f"{LEGACY}/uptime", CUMULATIVE, DOUBLE),
    _d(f"{LEGACY}/cpu/reserved_cores", GAUGE, DOUBLE),
    _d(f"{LEGACY}/cpu/usage_time", CUMULATIVE, DOUBLE),
    _d(f"{LEGACY}/network/received_bytes_count", CUMULATIVE, INT64),
    _d(f"{LEGACY}/network/sent_bytes_count", CUMULATIVE, INT64),
    _d(f"{LEGACY}/memory/bytes_total", GAUGE, INT64),
    _d(f"{LEGACY}/memory/bytes_used", GAUGE, INT64, "memory_type"),
    _d(f"{LEGACY}/memory/page_fault_count", CUMULATIVE, INT64, "fault_type"),
    _d(f"{LEGACY}/disk/bytes_used", GAUGE, INT64, "device_name"),
    _d(f"{LEGACY}/disk/bytes_total", GAUGE, INT64, "device_name"),
    _d(f"{LEGACY}/accelerator/memory_total", GAUGE, INT64, *ACCELERATOR_LABELS),
    _d(f"{LEGACY}/accelerator/memory_used", GAUGE, INT64, *ACCELERATOR_LABELS),
    _d(f"{LEGACY}/accelerator/duty_cycle", GAUGE, INT64, *ACCELERATOR_LABELS),
    _d(f"{LEGACY}/accelerator/request", GAUGE, INT64, "resource_name"),
)}
"""Every metric type the sink writes, by type name."""

RESOURCE_LABELS: dict[str, tuple[str, ...]] = {
    "gke_container": ("project_id", "cluster_name", "zone", "instance_id", "namespace_id", "pod_id",
                      "container_name"),
    "k8s_container": ("project_id", "location", "cluster_name", "namespace_name", "pod_name", "container_name"),
    "k8s_pod": ("project_id", "location", "cluster_name", "namespace_name", "pod_name"),
    "k8s_node": ("project_id", "location", "cluster_name", "node_name"),
}
"""The monitored resource types the sink writes and the labels each has (Cloud Monitoring's schemas)."""
