"""Descriptors of every metric and label heapster knows (HEAPSTER.md §3.2 and §3.3)."""

from __future__ import annotations

from dataclasses import dataclass

from heapster.model import MetricType, Unit, ValueType


@dataclass(frozen=True, slots=True)
class LabelDescriptor:
    """A label key and what it means."""

    key: str
    description: str


@dataclass(frozen=True, slots=True)
class MetricDescriptor:
    """What a metric is: its type, value type, units and the labels it may carry."""

    name: str
    description: str
    type: MetricType
    value_type: ValueType
    units: Unit
    labels: tuple[LabelDescriptor, ...] = ()

    def to_json(self) -> dict[str, object]:
        """The MetricDescriptor JSON of Heapster's metric-export schema (empty fields omitted, as Go's ``omitempty``)."""
        full: dict[str, object] = {
            "name": self.name,
            "description": self.description,
            "labels": [{"key": lab.key, "description": lab.description} for lab in self.labels],
            "type": self.type.label,
            "value_type": self.value_type.label,
            "units": self.units.label,
        }
        return {key: value for key, value in full.items() if value}


# Labels (HEAPSTER.md §3.2).
LABEL_TYPE = LabelDescriptor("type", "Type of the metric set: node, sys_container, pod, pod_container, ns or cluster")
LABEL_NODENAME = LabelDescriptor("nodename", "nodename where the container ran")
LABEL_HOSTNAME = LabelDescriptor("hostname", "Hostname where the container ran")
LABEL_HOST_ID = LabelDescriptor("host_id", "Identifier specific to a host. Set by cloud provider or user")
LABEL_SCHEDULABLE = LabelDescriptor("schedulable", "Node schedulable status")
LABEL_POD_NAME = LabelDescriptor("pod_name", "The name of the pod")
LABEL_POD_ID = LabelDescriptor("pod_id", "The unique ID of the pod")
LABEL_NAMESPACE_NAME = LabelDescriptor("namespace_name", "The name of the namespace")
LABEL_NAMESPACE_ID = LabelDescriptor("namespace_id", "The UID of namespace of the pod")
LABEL_CONTAINER_NAME = LabelDescriptor("container_name", "User-provided name of the container or full container name for system containers")
LABEL_CONTAINER_BASE_IMAGE = LabelDescriptor("container_base_image", "User-defined image name that is run inside the container")
LABEL_LABELS = LabelDescriptor("labels", "Comma-separated list of user-provided labels")
LABEL_RESOURCE_ID = LabelDescriptor("resource_id", "Identifier(s) specific to a metric")
LABEL_ACCELERATOR_MAKE = LabelDescriptor("make", "Make of the accelerator (nvidia, amd, google etc.)")
LABEL_ACCELERATOR_MODEL = LabelDescriptor("model", "Model of the accelerator (tesla-p100, tesla-k80 etc.)")
LABEL_ACCELERATOR_ID = LabelDescriptor("accelerator_id", "ID of the accelerator")
LABEL_CLUSTER_NAME = LabelDescriptor("cluster_name", "Name of the cluster, added by sinks")

COMMON_LABELS = (LABEL_NODENAME, LABEL_HOSTNAME, LABEL_HOST_ID)
CONTAINER_LABELS = (LABEL_CONTAINER_NAME, LABEL_CONTAINER_BASE_IMAGE)
POD_LABELS = (LABEL_POD_NAME, LABEL_POD_ID, LABEL_NAMESPACE_ID, LABEL_LABELS)
METRIC_LABELS = (LABEL_RESOURCE_ID,)
ACCELERATOR_LABELS = (LABEL_ACCELERATOR_MAKE, LABEL_ACCELERATOR_MODEL, LABEL_ACCELERATOR_ID)
ALL_LABELS = (
    LABEL_TYPE, *COMMON_LABELS, LABEL_SCHEDULABLE, *CONTAINER_LABELS, *POD_LABELS,
    LABEL_NAMESPACE_NAME, *METRIC_LABELS, *ACCELERATOR_LABELS, LABEL_CLUSTER_NAME,
)

_C, _G, _D = MetricType.CUMULATIVE, MetricType.GAUGE, MetricType.DELTA
_I, _F = ValueType.INT64, ValueType.FLOAT


def _m(name: str, mtype: MetricType, vtype: ValueType, units: Unit, description: str,
       labels: tuple[LabelDescriptor, ...] = ()) -> MetricDescriptor:
    return MetricDescriptor(name, description, mtype, vtype, units, labels)


# Standard metrics, produced by sources.
STANDARD_METRICS: tuple[MetricDescriptor, ...] = (
    _m("uptime", _C, _I, Unit.MILLISECONDS, "Number of milliseconds since the container was started"),
    _m("cpu/usage", _C, _I, Unit.NANOSECONDS, "Cumulative CPU usage on all cores"),
    _m("cpu/load", _G, _I, Unit.COUNT, "CPU load"),
    _m("ephemeral_storage/usage", _G, _I, Unit.BYTES, "Ephemeral storage usage"),
    _m("memory/usage", _G, _I, Unit.BYTES, "Total memory usage"),
    _m("memory/rss", _G, _I, Unit.BYTES, "RSS memory"),
    _m("memory/cache", _G, _I, Unit.BYTES, "Cache memory"),
    _m("memory/working_set", _G, _I, Unit.BYTES, "Total working set usage. Working set is the memory being used and not easily dropped by the kernel"),
    _m("memory/page_faults", _C, _I, Unit.COUNT, "Number of page faults"),
    _m("memory/major_page_faults", _C, _I, Unit.COUNT, "Number of major page faults"),
    _m("network/rx", _C, _I, Unit.BYTES, "Cumulative number of bytes received over the network"),
    _m("network/rx_errors", _C, _I, Unit.COUNT, "Cumulative number of errors while receiving over the network"),
    _m("network/tx", _C, _I, Unit.BYTES, "Cumulative number of bytes sent over the network"),
    _m("network/tx_errors", _C, _I, Unit.COUNT, "Cumulative number of errors while sending over the network"),
)

# Metrics computed by the rate calculator.
RATE_METRICS: tuple[MetricDescriptor, ...] = (
    _m("cpu/usage_rate", _G, _I, Unit.COUNT, "CPU usage on all cores in millicores"),
    _m("memory/page_faults_rate", _G, _F, Unit.COUNT, "Rate of page faults in counts per second"),
    _m("memory/major_page_faults_rate", _G, _F, Unit.COUNT, "Rate of major page faults in counts per second"),
    _m("network/rx_rate", _G, _F, Unit.COUNT, "Rate of bytes received over the network in bytes per second"),
    _m("network/rx_errors_rate", _G, _F, Unit.COUNT, "Rate of errors sending over the network in errors per second"),
    _m("network/tx_rate", _G, _F, Unit.COUNT, "Rate of bytes transmitted over the network in bytes per second"),
    _m("network/tx_errors_rate", _G, _F, Unit.COUNT, "Rate of errors transmitting over the network in errors per second"),
)

# Metrics added by enrichers and aggregators.
ADDITIONAL_METRICS: tuple[MetricDescriptor, ...] = (
    _m("cpu/request", _G, _I, Unit.COUNT, "CPU request (the guaranteed amount of resources) in millicores. This metric is Kubernetes specific."),
    _m("cpu/limit", _G, _I, Unit.COUNT, "CPU hard limit in millicores."),
    _m("memory/request", _G, _I, Unit.BYTES, "Memory request (the guaranteed amount of resources) in bytes. This metric is Kubernetes specific."),
    _m("memory/limit", _G, _I, Unit.BYTES, "Memory hard limit in bytes."),
    _m("ephemeral_storage/request", _G, _I, Unit.BYTES, "ephemeral storage request (the guaranteed amount of resources) in bytes. This metric is Kubernetes specific."),
    _m("ephemeral_storage/limit", _G, _I, Unit.BYTES, "ephemeral storage hard limit in bytes."),
    _m("cpu/node_capacity", _G, _F, Unit.COUNT, "Cpu capacity of a node"),
    _m("memory/node_capacity", _G, _F, Unit.COUNT, "Memory capacity of a node"),
    _m("ephemeral_storage/node_capacity", _G, _F, Unit.COUNT, "Ephemeral storage capacity of a node"),
    _m("cpu/node_allocatable", _G, _F, Unit.COUNT, "Cpu allocatable of a node"),
    _m("memory/node_allocatable", _G, _F, Unit.COUNT, "Memory allocatable of a node"),
    _m("ephemeral_storage/node_allocatable", _G, _F, Unit.COUNT, "Ephemeral storage allocatable of a node"),
    _m("cpu/node_utilization", _G, _F, Unit.COUNT, "Cpu utilization as a share of node capacity"),
    _m("memory/node_utilization", _G, _F, Unit.COUNT, "Memory utilization as a share of memory capacity"),
    _m("ephemeral_storage/node_utilization", _G, _F, Unit.COUNT, "Ephemeral storage utilization as a share of storage capacity"),
    _m("cpu/node_reservation", _G, _F, Unit.COUNT, "Share of cpu that is reserved on the node"),
    _m("memory/node_reservation", _G, _F, Unit.COUNT, "Share of memory that is reserved on the node"),
    _m("ephemeral_storage/node_reservation", _G, _F, Unit.COUNT, "Share of ephemeral storage that is reserved on the node"),
    _m("restart_count", _C, _I, Unit.COUNT, "Number of container restarts"),
)

# Metrics that carry their own labels.
LABELED_METRICS: tuple[MetricDescriptor, ...] = (
    _m("disk/io_read_bytes", _C, _I, Unit.BYTES, "Cumulative number of bytes read over disk", METRIC_LABELS),
    _m("disk/io_read_bytes_rate", _G, _F, Unit.COUNT, "Rate of bytes read over disk in bytes per second", METRIC_LABELS),
    _m("disk/io_write_bytes", _C, _I, Unit.BYTES, "Cumulative number of bytes write over disk", METRIC_LABELS),
    _m("disk/io_write_bytes_rate", _G, _F, Unit.COUNT, "Rate of bytes written over disk in bytes per second", METRIC_LABELS),
    _m("filesystem/usage", _G, _I, Unit.BYTES, "Total number of bytes consumed on a filesystem", METRIC_LABELS),
    _m("filesystem/limit", _G, _I, Unit.BYTES, "The total size of filesystem in bytes", METRIC_LABELS),
    _m("filesystem/available", _G, _I, Unit.BYTES, "The number of available bytes remaining in a the filesystem", METRIC_LABELS),
    _m("filesystem/inodes", _G, _I, Unit.BYTES, "Total number of inodes on a filesystem", METRIC_LABELS),
    _m("filesystem/inodes_free", _G, _I, Unit.BYTES, "Free number of inodes on a filesystem", METRIC_LABELS),
    _m("accelerator/memory_total", _G, _I, Unit.BYTES, "Total accelerator memory (in bytes)", ACCELERATOR_LABELS),
    _m("accelerator/memory_used", _G, _I, Unit.BYTES, "Total accelerator memory allocated (in bytes)", ACCELERATOR_LABELS),
    _m("accelerator/duty_cycle", _G, _I, Unit.COUNT, "Percent of time over the past sample period (10s) during which the accelerator was actively processing", ACCELERATOR_LABELS),
)

CATALOGUE: dict[str, MetricDescriptor] = {
    d.name: d for d in (*STANDARD_METRICS, *RATE_METRICS, *ADDITIONAL_METRICS, *LABELED_METRICS)
}
"""Every fixed metric by name; ``custom/*`` and ``<resource>/request`` come from :func:`describe`."""

RATE_MAPPING: dict[str, str] = {
    "cpu/usage": "cpu/usage_rate",
    "memory/page_faults": "memory/page_faults_rate",
    "memory/major_page_faults": "memory/major_page_faults_rate",
    "network/rx": "network/rx_rate",
    "network/rx_errors": "network/rx_errors_rate",
    "network/tx": "network/tx_rate",
    "network/tx_errors": "network/tx_errors_rate",
    "disk/io_read_bytes": "disk/io_read_bytes_rate",
    "disk/io_write_bytes": "disk/io_write_bytes_rate",
}
"""Cumulative metric -> the rate the rate calculator derives from it (Heapster's RateMetricsMapping)."""

CUMULATIVE_STANDARD = frozenset(
    d.name for d in STANDARD_METRICS if d.type in (MetricType.CUMULATIVE, MetricType.DELTA)
)
"""Standard metrics the pod aggregator never sums."""

FAMILIES: dict[str, frozenset[str]] = {
    "cpu": frozenset({
        "cpu/limit", "cpu/request", "cpu/usage", "cpu/load", "cpu/usage_rate", "cpu/node_allocatable",
        "cpu/node_capacity", "cpu/node_reservation", "cpu/node_utilization",
    }),
    "filesystem": frozenset({
        "filesystem/available", "filesystem/limit", "filesystem/usage", "filesystem/inodes",
        "filesystem/inodes_free",
    }),
    "memory": frozenset({
        "memory/limit", "memory/major_page_faults", "memory/major_page_faults_rate", "memory/page_faults",
        "memory/page_faults_rate", "memory/request", "memory/usage", "memory/rss", "memory/cache",
        "memory/working_set", "memory/node_allocatable", "memory/node_capacity",
        "memory/node_utilization", "memory/node_reservation",
    }),
    "network": frozenset({
        "network/rx", "network/rx_errors", "network/rx_errors_rate", "network/rx_rate", "network/tx",
        "network/tx_errors", "network/tx_errors_rate", "network/tx_rate",
    }),
}
"""Metric families used by the Elasticsearch sink; anything else is ``general``."""

_FAMILY_OF = {name: family for family, names in FAMILIES.items() for name in names}

DEPRECATED_ALIASES: dict[str, str] = {
    "cpu-usage": "cpu/usage_rate",
    "cpu-limit": "cpu/limit",
    "memory-limit": "memory/limit",
    "memory-usage": "memory/usage",
    "memory-working": "memory/working_set",
}
"""Old metric names the Model API still accepts."""


def family(name: str) -> str:
    """The Elasticsearch family of a metric: cpu, filesystem, memory, network or general."""
    return _FAMILY_OF.get(name, "general")


def describe(name: str) -> MetricDescriptor | None:
    """The descriptor of ``name``, including ``custom/<x>`` and ``<resource>/request``; None if unknown."""
    found = CATALOGUE.get(name)
    if found is not None:
        return found
    if name.startswith("custom/"):
        return _m(name, _G, _F, Unit.COUNT, "User-defined metric")
    if name.endswith("/request"):
        return _m(name, _G, _I, Unit.COUNT, f"{name[: -len('/request')]} request")
    return None
