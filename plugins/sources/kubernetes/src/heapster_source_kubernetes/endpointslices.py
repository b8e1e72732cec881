"""The EndpointSlices of one headless Service, kept current by list+watch (peer shards of ``--shard``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from heapster.shards.discovery import PeerService
from heapster_source_kubernetes.config import ApiAccess
from heapster_source_kubernetes.watch import Informer


def endpointslices_path(namespace: str) -> str:
    return f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"


class EndpointSliceInformer:
    """Implements :class:`heapster.shards.discovery.EndpointSliceWatch` with an :class:`Informer`
    selecting ``kubernetes.io/service-name=<service>``."""

    def __init__(self, api: ApiAccess, service: PeerService) -> None:
        self.informer = Informer(api, endpointslices_path(service.namespace),
                                 params={"labelSelector": service.label_selector}, watch_timeout=300)

    async def start(self) -> None:
        self.informer.start()

    async def close(self) -> None:
        await self.informer.stop()

    def slices(self) -> Sequence[Mapping[str, Any]]:
        return self.informer.objects()
