"""Peers from the EndpointSlices (``discovery.k8s.io/v1``) of a headless Service.

A StatefulSet's pods behind a headless Service appear as endpoints whose ``hostname`` (or
``targetRef.name``) is the pod name, ``heapster-2`` for shard 2. The slices come from a plugin
(:class:`EndpointSliceWatch`, kept current by list+watch); this module only reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from heapster.shards.spec import ordinal_of

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
"""The label tying an EndpointSlice to its Service."""


@dataclass(frozen=True)
class PeerService:
    """The headless Service whose EndpointSlices list the shards (``--shard_service``, ``--shard_namespace``).

    ``port_name`` picks the slice port to use (the first port when empty); ``scheme`` is how peers
    are reached (the scheme this replica serves).
    """

    namespace: str
    name: str
    port_name: str = ""
    scheme: str = "http"

    @property
    def label_selector(self) -> str:
        return f"{SERVICE_NAME_LABEL}={self.name}"


class EndpointSliceWatch(Protocol):
    """The EndpointSlices of one Service, kept current (list+watch); provided by a source plugin."""

    async def start(self) -> None:
        """Begin watching (returns without waiting for the API server)."""
        ...

    async def close(self) -> None:
        """Stop watching."""
        ...

    def slices(self) -> Sequence[Mapping[str, Any]]:
        """The Service's EndpointSlices as last seen."""
        ...


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _port(slice_: Mapping[str, Any], port_name: str) -> int | None:
    for port in slice_.get("ports") or ():
        if not port_name or port.get("name") == port_name:
            value = port.get("port")
            return int(value) if value else None
    return None


def _endpoint_name(endpoint: Mapping[str, Any]) -> str:
    return str(endpoint.get("hostname") or (endpoint.get("targetRef") or {}).get("name") or "")


def server_name(endpoint: Mapping[str, Any], service: PeerService) -> str:
    """The name a peer's serving certificate must carry: its stable DNS name in the headless Service
    (``heapster-2.heapster-peers.kube-system.svc``) when the endpoint has a ``hostname`` (a StatefulSet pod's
    has), else its address."""
    hostname = endpoint.get("hostname")
    if hostname:
        return f"{hostname}.{service.name}.{service.namespace}.svc"
    return str((endpoint.get("addresses") or [""])[0])


def shard_endpoints(slices: Sequence[Mapping[str, Any]], service: PeerService) -> dict[int, tuple[str, str]]:
    """``{shard index: (base URL, TLS server name)}`` of the ready endpoints named ``<anything>-<index>``.

    An endpoint that is not ready (``conditions.ready`` false), has no address or port, or whose
    name carries no ordinal is left out, as a Service would not route to it either.
    """
    found: dict[int, tuple[str, str]] = {}
    for slice_ in slices:
        port = _port(slice_, service.port_name)
        if port is None:
            continue
        for endpoint in slice_.get("endpoints") or ():
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            addresses = endpoint.get("addresses") or ()
            index = ordinal_of(_endpoint_name(endpoint))
            if not addresses or index is None:
                continue
            found.setdefault(index, (f"{service.scheme}://{_host(str(addresses[0]))}:{port}",
                                     server_name(endpoint, service)))
    return found


def shard_urls(slices: Sequence[Mapping[str, Any]], service: PeerService) -> dict[int, str]:
    """``{shard index: base URL}`` of :func:`shard_endpoints`."""
    return {index: url for index, (url, _) in shard_endpoints(slices, service).items()}


class Peers:
    """The other shards of this one: which indices exist and where each ready one answers."""

    def __init__(self, index: int, count: int, watch: EndpointSliceWatch | None, service: PeerService | None) -> None:
        self.index = index
        self.count = count
        self.watch = watch
        self.service = service

    @property
    def others(self) -> list[int]:
        """Every shard index but this one."""
        return [i for i in range(self.count) if i != self.index]

    def endpoints(self) -> dict[int, tuple[str, str]]:
        """``{index: (base URL, TLS server name)}`` of the other shards that are ready now (none without a watch)."""
        if self.watch is None or self.service is None:
            return {}
        return {i: found for i, found in shard_endpoints(self.watch.slices(), self.service).items()
                if i != self.index and i < self.count}

    def urls(self) -> dict[int, str]:
        """``{index: base URL}`` of the other shards that are ready now (none without a watch)."""
        return {i: url for i, (url, _) in self.endpoints().items()}

    def server_names(self) -> dict[int, str]:
        """``{index: name its serving certificate must carry}`` of the other shards that are ready now."""
        return {i: name for i, (_, name) in self.endpoints().items()}
