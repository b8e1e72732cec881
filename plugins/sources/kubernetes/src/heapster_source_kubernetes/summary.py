"""Kubelet summary JSON (``/stats/summary``) -> metric sets, as HEAPSTER.md §4.1 maps it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from heapster import keys
from heapster.model import LabeledMetric, MetricSet, MetricType, MetricValue
from heapster.timefmt import parse_rfc3339

_CUMULATIVE = MetricType.CUMULATIVE
_GAUGE = MetricType.GAUGE
_INT64_MAX = (1 << 63) - 1

RESOURCE_ID = "resource_id"
ROOT_FS = "/"
LOGS_FS = "logs"
VOLUME_PREFIX = "Volume:"
CUSTOM_PREFIX = "custom/"

SYSTEM_CONTAINER_NAMES = {"runtime": "docker-daemon", "misc": "system"}
"""Heapster's backward-compatible names for the kubelet's system containers."""

_NETWORK_FIELDS = (
    ("rxBytes", "network/rx"),
    ("rxErrors", "network/rx_errors"),
    ("txBytes", "network/tx"),
    ("txErrors", "network/tx_errors"),
)
_ACCELERATOR_FIELDS = (
    ("memoryTotal", "accelerator/memory_total"),
    ("memoryUsed", "accelerator/memory_used"),
    ("dutyCycle", "accelerator/duty_cycle"),
)
_CUSTOM_TYPES = {"gauge": MetricType.GAUGE, "cumulative": MetricType.CUMULATIVE, "delta": MetricType.DELTA}


class SummaryError(ValueError):
    """The summary as a whole is unusable (not JSON, not an object, no node); the node fails."""

    reason = "malformed"


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What the API says about the node a summary came from: the base labels of every set."""

    nodename: str
    hostname: str
    host_id: str = ""

    def labels(self) -> dict[str, str]:
        return {"nodename": self.nodename, "hostname": self.hostname, "host_id": self.host_id}


_time_cache: dict[str, datetime | None] = {}
_TIME_CACHE_MAX = 50_000


def _time(text: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime; None when absent, zero or unparsable."""
    if type(text) is not str:
        return None
    try:
        return _time_cache[text]
    except KeyError:
        pass
    parsed: datetime | None
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parse_rfc3339(text)
    except ValueError:
        try:
            parsed = parse_rfc3339(text)
        except ValueError:
            parsed = None
    if parsed is not None and parsed.year <= 1:
        parsed = None  # Go's zero time means "unset"
    if len(_time_cache) >= _TIME_CACHE_MAX:
        _time_cache.clear()
    _time_cache[text] = parsed
    return parsed


def _scrape_time(*parts: Any) -> datetime | None:
    """First non-zero ``time`` of the given stats objects (Heapster's getScrapeTime)."""
    for part in parts:
        if type(part) is dict:
            ts = _time(part.get("time"))
            if ts is not None:
                return ts
    return None


def _uptime(values: dict[str, MetricValue], start: datetime | None, now: float) -> None:
    if start is not None:
        ms = int((now - start.timestamp()) * 1000)
        values["uptime"] = MetricValue(ms if ms > 0 else 0, _CUMULATIVE)


def _cpu(values: dict[str, MetricValue], cpu: Any) -> None:
    if type(cpu) is dict:
        v = cpu.get("usageCoreNanoSeconds")
        if type(v) is int and 0 <= v <= _INT64_MAX:
            values["cpu/usage"] = MetricValue(v, _CUMULATIVE)


def _memory(values: dict[str, MetricValue], memory: Any) -> None:
    if type(memory) is dict:
        get = memory.get
        v = get("usageBytes")
        if type(v) is int and 0 <= v <= _INT64_MAX:
            values["memory/usage"] = MetricValue(v, _GAUGE)
        v = get("workingSetBytes")
        if type(v) is int and 0 <= v <= _INT64_MAX:
            values["memory/working_set"] = MetricValue(v, _GAUGE)
        v = get("rssBytes")
        if type(v) is int and 0 <= v <= _INT64_MAX:
            values["memory/rss"] = MetricValue(v, _GAUGE)
        v = get("pageFaults")
        if type(v) is int and 0 <= v <= _INT64_MAX:
            values["memory/page_faults"] = MetricValue(v, _CUMULATIVE)
        v = get("majorPageFaults")
        if type(v) is int and 0 <= v <= _INT64_MAX:
            values["memory/major_page_faults"] = MetricValue(v, _CUMULATIVE)


def _network(values: dict[str, MetricValue], network: Any) -> None:
    if type(network) is dict:
        get = network.get
        for field, name in _NETWORK_FIELDS:
            v = get(field)
            if type(v) is int and 0 <= v <= _INT64_MAX:
                values[name] = MetricValue(v, _CUMULATIVE)


def _fs(labeled: list[LabeledMetric], resource_id: str, fs: Any) -> int | None:
    """Append the filesystem metrics of ``fs``; return its valid ``usedBytes`` or None."""
    if type(fs) is not dict:
        return None
    # Unrolled: this runs for every volume, rootfs and logs of every container (the hot path).
    labels = {RESOURCE_ID: resource_id}
    append = labeled.append
    get = fs.get
    used = get("usedBytes")
    if type(used) is int and 0 <= used <= _INT64_MAX:
        append(LabeledMetric("filesystem/usage", labels, used, _GAUGE))
    else:
        used = None
    v = get("capacityBytes")
    if type(v) is int and 0 <= v <= _INT64_MAX:
        append(LabeledMetric("filesystem/limit", labels, v, _GAUGE))
    v = get("availableBytes")
    if type(v) is int and 0 <= v <= _INT64_MAX:
        append(LabeledMetric("filesystem/available", labels, v, _GAUGE))
    v = get("inodes")
    if type(v) is int and 0 <= v <= _INT64_MAX:
        append(LabeledMetric("filesystem/inodes", labels, v, _GAUGE))
    v = get("inodesFree")
    if type(v) is int and 0 <= v <= _INT64_MAX:
        append(LabeledMetric("filesystem/inodes_free", labels, v, _GAUGE))
    return used


def _accelerators(labeled: list[LabeledMetric], accelerators: Any) -> None:
    if type(accelerators) is not list:
        return
    for acc in accelerators:
        if type(acc) is not dict:
            continue
        labels = {"make": str(acc.get("make", "")), "model": str(acc.get("model", "")),
                  "accelerator_id": str(acc.get("id", ""))}
        for field, name in _ACCELERATOR_FIELDS:
            v = acc.get(field)
            if type(v) is int and 0 <= v <= _INT64_MAX:
                labeled.append(LabeledMetric(name, labels, v, _GAUGE))


def _custom(values: dict[str, MetricValue], metrics: Any) -> None:
    if type(metrics) is not list:
        return
    for metric in metrics:
        if type(metric) is not dict:
            continue
        name, kind, value = metric.get("name"), metric.get("type"), metric.get("value")
        if type(name) is not str or not name or type(kind) is not str:
            continue
        mtype = _CUSTOM_TYPES.get(kind)
        if mtype is None:
            continue
        if type(value) is int or type(value) is float:
            fvalue = float(value)
            if not math.isnan(fvalue):
                values[CUSTOM_PREFIX + name] = MetricValue(fvalue, mtype)


def _container_set(labels: dict[str, str], c: dict[str, Any], now: float,
                   create_time: datetime | None) -> MetricSet:
    """A container's metric set (pod or system container); ``labels`` is owned by the set."""
    values: dict[str, MetricValue] = {}
    labeled: list[LabeledMetric] = []
    start = _time(c.get("startTime"))
    cpu = c.get("cpu")
    memory = c.get("memory")
    _uptime(values, start, now)
    _cpu(values, cpu)
    _memory(values, memory)
    _accelerators(labeled, c.get("accelerators"))
    root_used = _fs(labeled, ROOT_FS, c.get("rootfs"))
    logs_used = _fs(labeled, LOGS_FS, c.get("logs"))
    if root_used is not None and logs_used is not None:
        values["ephemeral_storage/usage"] = MetricValue(root_used + logs_used, _GAUGE)
    _custom(values, c.get("userDefinedMetrics"))
    return MetricSet(labels, values, labeled, start, create_time if create_time is not None else start,
                     _scrape_time(cpu, memory))


def decode_summary(raw: bytes | str | dict[str, Any], node: NodeInfo, now: float) -> dict[str, MetricSet]:
    """Turn one kubelet summary into metric sets keyed as HEAPSTER.md §3.1.

    ``now`` (epoch seconds) is the reference for ``uptime``. A value that is missing, negative,
    too large for int64 or of the wrong type is skipped; a pod or container without a usable
    name is skipped. A body that is not a JSON object with a ``node`` object raises
    :class:`SummaryError`.
    """
    if isinstance(raw, dict):
        summary: Any = raw
    else:
        try:
            summary = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            msg = f"summary is not valid JSON: {exc}"
            raise SummaryError(msg) from None
    if type(summary) is not dict or type(summary.get("node")) is not dict:
        msg = "summary has no node object"
        raise SummaryError(msg)
    base = node.labels()
    result: dict[str, MetricSet] = {}
    _decode_node(result, base, summary["node"], node, now)
    pods = summary.get("pods")
    if type(pods) is list:
        for pod in pods:
            if type(pod) is dict:
                _decode_pod(result, base, pod, now)
    return result


def _decode_node(result: dict[str, MetricSet], base: dict[str, str], n: dict[str, Any], node: NodeInfo,
                 now: float) -> None:
    node_name = n.get("nodeName")
    if type(node_name) is not str or not node_name:
        node_name = node.nodename
    values: dict[str, MetricValue] = {}
    labeled: list[LabeledMetric] = []
    start = _time(n.get("startTime"))
    cpu, memory, network = n.get("cpu"), n.get("memory"), n.get("network")
    _uptime(values, start, now)
    _cpu(values, cpu)
    _memory(values, memory)
    _network(values, network)
    used = _fs(labeled, ROOT_FS, n.get("fs"))
    if used is not None:
        values["ephemeral_storage/usage"] = MetricValue(used, _GAUGE)
    labels = base.copy()
    labels["type"] = keys.NODE
    result[keys.node_key(node_name)] = MetricSet(labels, values, labeled, start, start,
                                                 _scrape_time(cpu, memory, network))

    containers = n.get("systemContainers")
    if type(containers) is not list:
        return
    for c in containers:
        if type(c) is not dict:
            continue
        name = c.get("name")
        if type(name) is not str or not name:
            continue
        name = SYSTEM_CONTAINER_NAMES.get(name, name)
        labels = base.copy()
        labels["type"] = keys.SYS_CONTAINER
        labels["container_name"] = name
        result[keys.node_container_key(node_name, name)] = _container_set(labels, c, now, None)


def _decode_pod(result: dict[str, MetricSet], base: dict[str, str], pod: dict[str, Any], now: float) -> None:
    ref = pod.get("podRef")
    if type(ref) is not dict:
        return
    name, namespace, uid = ref.get("name"), ref.get("namespace"), ref.get("uid", "")
    if type(name) is not str or type(namespace) is not str or not name or not namespace:
        return
    pod_labels = base.copy()
    pod_labels["type"] = keys.POD
    pod_labels["pod_id"] = uid if type(uid) is str else ""
    pod_labels["pod_name"] = name
    pod_labels["namespace_name"] = namespace

    values: dict[str, MetricValue] = {}
    labeled: list[LabeledMetric] = []
    start = _time(pod.get("startTime"))
    network = pod.get("network")
    _uptime(values, start, now)
    _network(values, network)
    _cpu(values, pod.get("cpu"))
    _memory(values, pod.get("memory"))
    ephemeral = pod.get("ephemeral-storage")
    if type(ephemeral) is dict:
        v = ephemeral.get("usedBytes")
        if type(v) is int and 0 <= v <= _INT64_MAX:
            values["ephemeral_storage/usage"] = MetricValue(v, _GAUGE)
    volumes = pod.get("volume")
    if type(volumes) is list:
        for vol in volumes:
            if type(vol) is dict and type(vol.get("name")) is str:
                _fs(labeled, VOLUME_PREFIX + vol["name"], vol)
    result[keys.pod_key(namespace, name)] = MetricSet(pod_labels, values, labeled, start, start,
                                                      _scrape_time(network))

    containers = pod.get("containers")
    if type(containers) is not list:
        return
    chosen: dict[str, dict[str, Any]] = {}
    for c in containers:
        if type(c) is not dict:
            continue
        cname = c.get("name")
        if type(cname) is not str or not cname:
            continue
        previous = chosen.get(cname)
        if previous is not None:
            # Keep the newest of two entries with one name (terminated + running): Heapster's rule.
            old, new = _time(previous.get("startTime")), _time(c.get("startTime"))
            if old is not None and (new is None or new < old):
                continue
        chosen[cname] = c
    for cname, c in chosen.items():
        labels = pod_labels.copy()
        labels["type"] = keys.POD_CONTAINER
        labels["container_name"] = cname
        result[keys.pod_container_key(namespace, name, cname)] = _container_set(labels, c, now, start)
