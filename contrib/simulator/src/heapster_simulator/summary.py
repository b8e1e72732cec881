"""Kubelet `/stats/summary` bodies, computed on request from a node's compact state and the wall clock.

Shaped like a v1.35 kubelet (see fixtures/kubelet-stats-summary-v1.35.json). Every counter is a rate times the
time since its container (or pod, or node) started, so it grows with the wall clock and restarts from zero when
the container restarts; gauges wobble around a per-container level.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from .model import NodeState, PodState, rfc3339
from .workloads import SIDECAR_CPU_MILLIS, SIDECAR_MEMORY_MIB

MIB = 1024 * 1024
GIB = 1024 * MIB
NODE_CPUS = 16
NODE_MEMORY = 64 * GIB
DISK_CAPACITY = 500 * GIB
DISK_INODES = 32_000_000
TMPFS_CAPACITY = 8 * GIB
TMPFS_INODES = 2_000_000
NODE_INTERFACES = ("eth0", "cni0", "flannel.1")


def _psi(total: int, avg: float) -> dict[str, Any]:
    return {"full": {"total": total, "avg10": avg, "avg60": avg, "avg300": avg},
            "some": {"total": total, "avg10": avg, "avg60": avg, "avg300": avg}}


# Shared by every container, and written once as JSON: orjson copies a Fragment's bytes instead of encoding the
# same dict again at each of its ~330 references per node (0.74 instead of 1.0 ms to render a 30-pod summary).
_ZERO_PSI = orjson.Fragment(orjson.dumps(_psi(0, 0)))


def _fraction(a: int, b: int) -> float:
    """A stable pseudo-random number in [0.5, 1.5) for (a, b)."""
    return 0.5 + ((a * 7919 + b * 104_729 + 17) % 1000) / 1000.0


def _fs(now_s: str, used: int, inodes_used: int) -> dict[str, Any]:
    return {"time": now_s, "availableBytes": DISK_CAPACITY - 40 * GIB - used, "capacityBytes": DISK_CAPACITY,
            "usedBytes": used, "inodesFree": DISK_INODES - 900_000 - inodes_used, "inodes": DISK_INODES,
            "inodesUsed": inodes_used}


def container_cpu_rate(pod: PodState, index: int) -> float:
    """Average CPU use of container `index` of `pod`, in nanocores."""
    millis = pod.spec.cpu_millis if index == 0 else SIDECAR_CPU_MILLIS
    return millis * 1e6 * _fraction(pod.serial, index)


def node_cpu_rate(node: NodeState, pods_per_node: int) -> float:
    """Average CPU use of the whole node, in nanocores (steady, so the node counter never goes backward)."""
    return (0.35 + pods_per_node * 0.09) * 1e9 * _fraction(node.index, 7)


def _container(pod: PodState, index: int, now: float, now_s: str) -> dict[str, Any]:
    start = pod.starts[index]
    elapsed = max(now - start, 0.0)
    factor = _fraction(pod.serial, index)
    rate = container_cpu_rate(pod, index)
    memory_base = (pod.spec.memory_mib if index == 0 else SIDECAR_MEMORY_MIB) * MIB * factor
    working_set = int(memory_base * (0.9 + 0.1 * math.sin(now / 613.0 + pod.serial + index)))
    rootfs_used = 65_536 + int(min(elapsed * 40.0 * factor, 200 * MIB)) // 4096 * 4096
    logs_used = 4096 + int(min(elapsed * 25.0 * factor, 100 * MIB)) // 4096 * 4096
    return {
        "name": pod.containers[index],
        "startTime": pod.start_stamps[index],
        "cpu": {"time": now_s, "usageNanoCores": int(rate * (1.0 + 0.15 * math.sin(now / 97.0 + pod.serial))),
                "usageCoreNanoSeconds": int(rate * elapsed), "psi": _ZERO_PSI},
        "memory": {"time": now_s, "usageBytes": working_set + 6 * MIB, "workingSetBytes": working_set,
                   "rssBytes": int(working_set * 0.85), "pageFaults": int(elapsed * 2.5 * factor) + 1200,
                   "majorPageFaults": int(elapsed / 7200.0 * factor), "psi": _ZERO_PSI},
        "io": {"time": now_s, "psi": _ZERO_PSI},
        "rootfs": _fs(now_s, rootfs_used, 20 + rootfs_used // 65_536),
        "logs": _fs(now_s, logs_used, 1 + index),
        "swap": {"time": now_s, "swapAvailableBytes": 0, "swapUsageBytes": 0},
    }


def _volumes(pod: PodState, elapsed: float, now_s: str) -> list[dict[str, Any]]:
    api_access = {"time": now_s, "availableBytes": TMPFS_CAPACITY - 12_288, "capacityBytes": TMPFS_CAPACITY,
                  "usedBytes": 12_288, "inodesFree": TMPFS_INODES - 9, "inodes": TMPFS_INODES, "inodesUsed": 9,
                  "name": pod.api_volume}
    data = pod.spec.data_volume
    if data is None:
        return [api_access]
    used = 4096 + int(min(elapsed * 120.0 * _fraction(pod.serial, 9), 4 * GIB)) // 4096 * 4096
    volume = _fs(now_s, used, 3 + used // 1_048_576)
    volume["name"] = data
    if pod.spec.owner_kind == "StatefulSet":
        volume["pvcRef"] = {"name": f"{data}-{pod.name}", "namespace": pod.namespace}
    return [volume, api_access]


def pod_summary(pod: PodState, now: float, now_s: str) -> dict[str, Any]:
    """The `pods[]` entry of one pod."""
    containers = [_container(pod, j, now, now_s) for j in range(len(pod.containers))]
    pod_elapsed = max(now - pod.created, 0.0)
    cpu_nano = sum(c["cpu"]["usageNanoCores"] for c in containers)
    cpu_total = sum(c["cpu"]["usageCoreNanoSeconds"] for c in containers)
    working_set = sum(c["memory"]["workingSetBytes"] for c in containers) + 1_048_576
    rx_rate = 20_000.0 * _fraction(pod.serial, 5)
    rx = int(rx_rate * pod_elapsed)
    tx = int(rx_rate * 0.6 * pod_elapsed)
    volumes = _volumes(pod, pod_elapsed, now_s)
    ephemeral = sum(c["rootfs"]["usedBytes"] + c["logs"]["usedBytes"] for c in containers)
    if pod.spec.data_volume is not None and pod.spec.owner_kind != "StatefulSet":
        ephemeral += volumes[0]["usedBytes"]
    entry: dict[str, Any] = {
        "podRef": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
        "startTime": pod.created_stamp,
        "containers": containers,
        "cpu": {"time": now_s, "usageNanoCores": cpu_nano, "usageCoreNanoSeconds": cpu_total, "psi": _ZERO_PSI},
        "memory": {"time": now_s, "usageBytes": working_set + 6 * MIB * len(containers),
                   "workingSetBytes": working_set, "rssBytes": int(working_set * 0.85),
                   "pageFaults": sum(c["memory"]["pageFaults"] for c in containers),
                   "majorPageFaults": sum(c["memory"]["majorPageFaults"] for c in containers), "psi": _ZERO_PSI},
        "io": {"time": now_s, "psi": _ZERO_PSI},
        "network": {"time": now_s, "name": "eth0", "rxBytes": rx, "rxErrors": 0, "txBytes": tx, "txErrors": 0,
                    "interfaces": [{"name": "eth0", "rxBytes": rx, "rxErrors": 0, "txBytes": tx, "txErrors": 0}]},
        "volume": volumes,
        "ephemeral-storage": _fs(now_s, ephemeral, 40 * len(containers)),
        "process_stats": {"process_count": len(containers) + 1},
        "swap": {"time": now_s, "swapUsageBytes": 0},
    }
    return entry


def _system_container(name: str, start: float, rate: float, memory: int, now: float,
                      now_s: str) -> dict[str, Any]:
    elapsed = max(now - start, 0.0)
    return {
        "name": name,
        "startTime": rfc3339(start),
        "cpu": {"time": now_s, "usageNanoCores": int(rate), "usageCoreNanoSeconds": int(rate * elapsed),
                "psi": _ZERO_PSI},
        "memory": {"time": now_s, "usageBytes": memory + 8 * MIB, "workingSetBytes": memory,
                   "rssBytes": int(memory * 0.9), "pageFaults": int(elapsed * 3.0), "majorPageFaults": 2,
                   "psi": _ZERO_PSI},
        "io": {"time": now_s, "psi": _ZERO_PSI},
        "swap": {"time": now_s, "swapUsageBytes": 0},
    }


def node_summary(node: NodeState, pods_per_node: int, now: float) -> dict[str, Any]:
    """The whole `/stats/summary` body of `node` at time `now` (epoch seconds), for `orjson.dumps`.

    The pressure stall (`psi`) objects are `orjson.Fragment`s: encode the result with orjson.
    """
    now_s = rfc3339(now)
    pods = [pod_summary(pod, now, now_s) for pod in node.pods]
    elapsed = max(now - node.created, 0.0)
    rate = node_cpu_rate(node, pods_per_node)
    factor = _fraction(node.index, 3)
    working_set = int(NODE_MEMORY * (0.25 + 0.2 * factor) * (0.95 + 0.05 * math.sin(now / 900.0 + node.index)))
    usage = working_set + 3 * GIB
    rx_rate = 20_000.0 * (pods_per_node + 10) * factor
    interfaces = [
        {"name": name, "rxBytes": int(rx_rate * elapsed / (k + 1)), "rxErrors": 0,
         "txBytes": int(rx_rate * 0.6 * elapsed / (k + 1)), "txErrors": 0}
        for k, name in enumerate(NODE_INTERFACES)
    ]
    root_used = 30 * GIB + int(min(elapsed * 2000.0, 100 * GIB))
    image_used = 12 * GIB + int(factor * 4 * GIB)
    system = [
        _system_container("kubelet", node.created + 5.0, 0.04e9 * factor, 90 * MIB, now, now_s),
        _system_container("runtime", node.created + 2.0, 0.03e9 * factor, 150 * MIB, now, now_s),
        _system_container("pods", node.created + 5.0, rate * 0.9, int(working_set * 0.8), now, now_s),
        _system_container("misc", node.created, 0.01e9 * factor, 60 * MIB, now, now_s),
    ]
    image_fs = {"time": now_s, "availableBytes": DISK_CAPACITY - root_used, "capacityBytes": DISK_CAPACITY,
                "usedBytes": image_used, "inodesFree": DISK_INODES - 1_000_000, "inodes": DISK_INODES,
                "inodesUsed": 60_000}
    return {
        "node": {
            "nodeName": node.name,
            "systemContainers": system,
            "startTime": rfc3339(node.created),
            "cpu": {"time": now_s, "usageNanoCores": int(rate * (1.0 + 0.1 * math.sin(now / 120.0 + node.index))),
                    "usageCoreNanoSeconds": int(rate * elapsed), "psi": _ZERO_PSI},
            "memory": {"time": now_s, "availableBytes": NODE_MEMORY - working_set, "usageBytes": usage,
                       "workingSetBytes": working_set, "rssBytes": int(working_set * 0.8),
                       "pageFaults": int(elapsed * 400.0), "majorPageFaults": int(elapsed / 600.0),
                       "psi": _ZERO_PSI},
            "io": {"time": now_s, "psi": _ZERO_PSI},
            "network": {"time": now_s, "name": "eth0", "rxBytes": interfaces[0]["rxBytes"], "rxErrors": 0,
                        "txBytes": interfaces[0]["txBytes"], "txErrors": 0, "interfaces": interfaces},
            "fs": {"time": now_s, "availableBytes": DISK_CAPACITY - root_used, "capacityBytes": DISK_CAPACITY,
                   "usedBytes": root_used, "inodesFree": DISK_INODES - 1_500_000, "inodes": DISK_INODES,
                   "inodesUsed": 1_500_000},
            "runtime": {"imageFs": image_fs, "containerFs": dict(image_fs)},
            "rlimit": {"time": now_s, "maxpid": 4_194_304, "curproc": 400 + 12 * len(pods)},
            "swap": {"time": now_s, "swapAvailableBytes": 0, "swapUsageBytes": 0},
        },
        "pods": pods,
    }
