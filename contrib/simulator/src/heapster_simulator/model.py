"""Compact state of the simulated nodes and pods, and the changes that happen to them over time."""

from __future__ import annotations

import random
import time
import uuid
import zlib

from .addresses import kubelet_address, node_name
from .workloads import WORKLOADS, Workload, container_names, name_suffix, template_hash

_DAY = 86_400.0


def rfc3339(epoch: float) -> str:
    """Seconds-precision RFC 3339 UTC, as the kubelet writes times."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class PodState:
    """One pod: identity, placement and per-container start times and restart counts (nothing else)."""

    __slots__ = ("api_volume", "containers", "created", "created_stamp", "ip", "name", "namespace", "node",
                 "restarts", "rv", "serial", "start_stamps", "starts", "uid", "workload")

    def __init__(self, serial: int, workload: int, node: int, uid: str, ip: str, created: float,
                 containers: int) -> None:
        spec = WORKLOADS[workload]
        self.serial = serial
        self.workload = workload
        self.node = node
        self.uid = uid
        self.ip = ip
        self.created = created
        self.namespace = spec.namespace
        self.name = pod_name(spec, serial, node)
        self.containers = container_names(spec, containers)
        self.starts = [created + 2.0 + j for j in range(containers)]
        self.restarts = [0] * containers
        self.rv = 0
        self.api_volume = f"kube-api-access-{name_suffix(zlib.crc32(uid.encode()) % 14_348_907)}"
        self.created_stamp = rfc3339(created)
        self.start_stamps = [rfc3339(start) for start in self.starts]

    def restart(self, container: int, now: float) -> None:
        """Container `container` restarted at `now`."""
        self.restarts[container] += 1
        self.starts[container] = now
        self.start_stamps[container] = rfc3339(now)

    @property
    def spec(self) -> Workload:
        """The workload this pod belongs to."""
        return WORKLOADS[self.workload]

    @property
    def key(self) -> tuple[str, str]:
        """(namespace, name)."""
        return (self.namespace, self.name)


class NodeState:
    """One node: identity, address, readiness, the fault injected into its kubelet and its pods."""

    __slots__ = ("boot_id", "created", "fault", "index", "ip", "machine_id", "name", "next_ip", "pods", "ready",
                 "ready_since", "rv", "uid")

    def __init__(self, index: int, uid: str, boot_id: str, machine_id: str, created: float) -> None:
        self.index = index
        self.name = node_name(index)
        self.ip = kubelet_address(index)
        self.uid = uid
        self.boot_id = boot_id
        self.machine_id = machine_id
        self.created = created
        self.ready = True
        self.ready_since = created + 30.0
        self.fault = "none"
        self.pods: list[PodState] = []
        self.next_ip = 2
        self.rv = 0

    def pod_cidr(self) -> str:
        """This node's pod CIDR (a /24 in 10.64.0.0/10)."""
        return f"10.{64 + (self.index >> 8)}.{self.index & 255}.0/24"

    def allocate_pod_ip(self) -> str:
        """Next pod IP from this node's CIDR (wraps around after .250)."""
        host = self.next_ip
        self.next_ip = 2 if host >= 250 else host + 1
        return f"10.{64 + (self.index >> 8)}.{self.index & 255}.{host}"


def pod_name(spec: Workload, serial: int, node: int) -> str:
    """Kubernetes-style name of a pod of `spec`."""
    if spec.owner_kind == "StatefulSet":
        return f"{spec.app}-{serial}"
    if spec.owner_kind == "DaemonSet":
        return f"{spec.app}-{name_suffix(serial)}"
    return f"{spec.app}-{template_hash(spec.app)}-{name_suffix(serial)}"


class ClusterModel:
    """All nodes and pods; builds the initial cluster from a seed and applies churn and restarts."""

    def __init__(self, nodes: int, pods_per_node: int, containers_per_pod: int, seed: int, now: float) -> None:
        self.rng = random.Random(seed)
        self.containers_per_pod = containers_per_pod
        self.started = now
        self.nodes: list[NodeState] = []
        self._serial = 0
        self._daemonsets = [i for i, w in enumerate(WORKLOADS) if w.owner_kind == "DaemonSet"]
        self._others = [i for i, w in enumerate(WORKLOADS) if w.owner_kind != "DaemonSet"]
        for index in range(nodes):
            created = now - 3 * _DAY - self.rng.uniform(0, _DAY)
            node = NodeState(index, self._uuid(), self._uuid(), uuid.UUID(int=self.rng.getrandbits(128)).hex,
                             created)
            self.nodes.append(node)
            for slot in range(pods_per_node):
                workload = self._pick_workload(slot)
                age = self.rng.uniform(600.0, 2 * _DAY)
                node.pods.append(self._new_pod(node, workload, max(created + 60.0, now - age)))

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _pick_workload(self, slot: int) -> int:
        if slot < len(self._daemonsets):
            return self._daemonsets[slot]
        return self.rng.choice(self._others)

    def _new_pod(self, node: NodeState, workload: int, created: float) -> PodState:
        serial = self._serial
        self._serial += 1
        return PodState(serial, workload, node.index, self._uuid(), node.allocate_pod_ip(), created,
                        self.containers_per_pod)

    def pods(self) -> list[PodState]:
        """Every pod of every node."""
        return [pod for node in self.nodes for pod in node.pods]

    def replace_random_pod(self, now: float) -> tuple[PodState, PodState] | None:
        """Churn: delete one random non-DaemonSet pod and schedule a new one of the same app on the same node.

        Returns (deleted, created), or None when there is no pod to replace.
        """
        candidates = [node for node in self.nodes if node.pods]
        if not candidates:
            return None
        node = self.rng.choice(candidates)
        position = self.rng.randrange(len(node.pods))
        old = node.pods[position]
        if old.spec.owner_kind == "DaemonSet":
            non_daemon = [i for i, p in enumerate(node.pods) if p.spec.owner_kind != "DaemonSet"]
            if not non_daemon:
                return None
            position = self.rng.choice(non_daemon)
            old = node.pods[position]
        new = self._new_pod(node, old.workload, now)
        node.pods[position] = new
        return old, new

    def restart_random_container(self, now: float) -> tuple[PodState, int] | None:
        """A container crashes and restarts: its start time moves to now and its counters start again from 0."""
        candidates = [node for node in self.nodes if node.pods]
        if not candidates:
            return None
        node = self.rng.choice(candidates)
        pod = self.rng.choice(node.pods)
        container = self.rng.randrange(len(pod.containers))
        pod.restart(container, now)
        return pod, container
