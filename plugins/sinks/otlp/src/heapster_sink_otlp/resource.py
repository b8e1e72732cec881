"""Heapster labels as OpenTelemetry resource attributes (Kubernetes semantic conventions)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

SEMCONV: dict[str, str] = {
    "nodename": "k8s.node.name",
    "pod_name": "k8s.pod.name",
    "pod_id": "k8s.pod.uid",
    "namespace_name": "k8s.namespace.name",
    "container_name": "k8s.container.name",
    "hostname": "host.name",
    "host_id": "host.id",
    "container_base_image": "container.image.name",
}
"""Heapster label -> semantic-convention attribute; other labels become ``heapster.<label>``."""


@lru_cache(maxsize=1024)
def attribute_key(label: str) -> str:
    """The resource attribute key of a Heapster label."""
    return SEMCONV.get(label) or f"heapster.{label}"


def resource_attributes(labels: dict[str, str], cluster_name: str = "") -> Iterable[tuple[str, str]]:
    """``(key, value)`` pairs of a metric set's resource, empty values left out."""
    if cluster_name:
        yield "k8s.cluster.name", cluster_name
    for label, value in labels.items():
        if value:
            yield attribute_key(label), value
