"""A headless Service and its EndpointSlices for processes on loopback (heapster shards or replicas).

Each peer is a pod name (``heapster-2``, as a StatefulSet names them) at an address and port.
Every peer gets an EndpointSlice of its own, since the ports of processes sharing 127.0.0.1
differ (a slice's ports are shared by all of its endpoints); the real EndpointSlice controller
also splits a Service's endpoints over several slices. Slices carry the label
``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by``, as the real ones.
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from dataclasses import dataclass
from typing import Any

from .model import rfc3339

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"


@dataclass(frozen=True)
class Peer:
    """One process: pod ``name`` listening on ``address``:``port``; ``ready`` as its readiness probe says."""

    name: str
    address: str
    port: int
    ready: bool = True

    def validate(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError(f"bad peer name {self.name!r}")
        ipaddress.ip_address(self.address)
        if not 0 < self.port < 65536:
            raise ValueError(f"bad port {self.port} for peer {self.name}")


def parse_peer(text: str) -> Peer:
    """``NAME=HOST:PORT`` (``heapster-0=127.0.0.1:8082``); ValueError naming the bad part."""
    name, sep, where = text.partition("=")
    host, colon, port = where.rpartition(":")
    if not sep or not colon:
        raise ValueError(f"expected NAME=HOST:PORT (e.g. heapster-0=127.0.0.1:8082), got {text!r}")
    try:
        peer = Peer(name, host.strip("[]"), int(port))
    except ValueError:
        raise ValueError(f"bad port in {text!r}") from None
    peer.validate()
    return peer


def render_service(name: str, namespace: str, port: int) -> dict[str, Any]:
    """The headless Service (``clusterIP: None``) selecting the peers' pods."""
    return {
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()),
                     "creationTimestamp": rfc3339(time.time()), "labels": {"app": name}},
        "spec": {"clusterIP": "None", "clusterIPs": ["None"], "type": "ClusterIP", "selector": {"app": name},
                 "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
                 "publishNotReadyAddresses": False},
        "status": {"loadBalancer": {}},
    }


def slice_name(service: str, peer: str) -> str:
    return f"{service}-{peer}"


def render_slice(service: str, namespace: str, peer: Peer) -> dict[str, Any]:
    """The EndpointSlice (``discovery.k8s.io/v1``) holding one peer."""
    family = "IPv6" if ipaddress.ip_address(peer.address).version == 6 else "IPv4"
    return {
        "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
        "metadata": {"name": slice_name(service, peer.name), "namespace": namespace, "uid": str(uuid.uuid4()),
                     "creationTimestamp": rfc3339(time.time()),
                     "labels": {SERVICE_NAME_LABEL: service, MANAGED_BY_LABEL: MANAGED_BY}},
        "addressType": family,
        "endpoints": [{
            "addresses": [peer.address],
            "conditions": {"ready": peer.ready, "serving": peer.ready, "terminating": False},
            "hostname": peer.name,
            "targetRef": {"kind": "Pod", "namespace": namespace, "name": peer.name},
        }],
        "ports": [{"name": "http", "port": peer.port, "protocol": "TCP"}],
    }
