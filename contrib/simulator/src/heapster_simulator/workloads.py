"""The catalogue of simulated workloads: which apps run where, their images and typical usage."""

from __future__ import annotations

import functools
from dataclasses import dataclass

NAMESPACES = ("default", "kube-system", "monitoring", "shop", "payments", "batch")
SIDECARS = ("istio-proxy", "log-shipper", "config-reloader")
SIDECAR_IMAGES = {
    "istio-proxy": "docker.io/istio/proxyv2:1.24.2",
    "log-shipper": "docker.io/fluent/fluent-bit:3.2.4",
    "config-reloader": "ghcr.io/jimmidyson/configmap-reload:v0.14.0",
}
SIDECAR_CPU_MILLIS = 8
SIDECAR_MEMORY_MIB = 40
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for generated name suffixes


@dataclass(frozen=True)
class Workload:
    """One simulated app: owner kind, namespace, main container, image, typical CPU/memory, volume."""

    app: str
    namespace: str
    owner_kind: str  # ReplicaSet, StatefulSet or DaemonSet
    container: str
    image: str
    cpu_millis: int
    memory_mib: int
    data_volume: str | None = None  # an emptyDir (or a PVC for StatefulSets) mounted by the main container


WORKLOADS: tuple[Workload, ...] = (
    Workload("frontend", "shop", "ReplicaSet", "nginx", "docker.io/library/nginx:1.27-alpine", 60, 48, "cache"),
    Workload("cart", "shop", "ReplicaSet", "cart", "ghcr.io/example/cart:2.4.1", 120, 180),
    Workload("catalog", "shop", "ReplicaSet", "catalog", "ghcr.io/example/catalog:1.9.0", 90, 256, "tmp"),
    Workload("checkout", "payments", "ReplicaSet", "checkout", "ghcr.io/example/checkout:3.0.2", 150, 300),
    Workload("ledger", "payments", "StatefulSet", "postgres", "docker.io/library/postgres:17.2", 250, 768, "data"),
    Workload("redis", "default", "StatefulSet", "redis", "docker.io/library/redis:7.4", 40, 128, "data"),
    Workload("api", "default", "ReplicaSet", "api", "ghcr.io/example/api:5.1.0", 200, 400),
    Workload("worker", "batch", "ReplicaSet", "worker", "ghcr.io/example/worker:5.1.0", 400, 512, "scratch"),
    Workload("node-exporter", "monitoring", "DaemonSet", "node-exporter", "quay.io/prometheus/node-exporter:v1.8.2",
             15, 24),
    Workload("kube-proxy", "kube-system", "DaemonSet", "kube-proxy", "registry.k8s.io/kube-proxy:v1.35.0", 10, 30),
    Workload("coredns", "kube-system", "ReplicaSet", "coredns", "registry.k8s.io/coredns/coredns:v1.13.1",
             12, 40, "config-volume"),
)


def container_names(workload: Workload, count: int) -> tuple[str, ...]:
    """Names of the `count` containers of a pod of `workload`: the main container, then sidecars."""
    names = [workload.container]
    for j in range(1, count):
        names.append(SIDECARS[j - 1] if j - 1 < len(SIDECARS) else f"helper-{j}")
    return tuple(names)


def container_image(workload: Workload, name: str) -> str:
    """Image of container `name` in a pod of `workload`."""
    if name == workload.container:
        return workload.image
    return SIDECAR_IMAGES.get(name, "docker.io/library/busybox:1.37")


def name_suffix(serial: int, length: int = 5) -> str:
    """A Kubernetes-style random-looking suffix that is unique per serial number."""
    base = len(NAME_ALPHABET)
    mixed = (serial * 2_654_435_761 + 12_345) % base**length  # bijective: the multiplier is coprime with 27
    chars = []
    for _ in range(length):
        mixed, digit = divmod(mixed, base)
        chars.append(NAME_ALPHABET[digit])
    return "".join(chars)


@functools.lru_cache(maxsize=1024)
def template_hash(app: str) -> str:
    """A stable 10-character pod-template-hash for a ReplicaSet of `app`."""
    value = 0
    for ch in app:
        value = (value * 131 + ord(ch)) % (27**10)
    return name_suffix(value, 10)
