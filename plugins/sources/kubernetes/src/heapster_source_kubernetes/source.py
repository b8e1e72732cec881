"""The Kubernetes metric source: one kubelet summary scrape unit per node in the cluster cache."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from datetime import datetime
from http import HTTPStatus
from typing import Any

import structlog

from heapster.columns import ColumnBatch
from heapster.errors import RuntimeFailure, describe_error
from heapster.http1 import FetchError, get_request
from heapster.interfaces import Clock, ClusterState, MetricSource, ScrapeUnit, SystemClock
from heapster.model import MetricSet
from heapster_source_kubernetes.cluster import KubernetesCluster
from heapster_source_kubernetes.config import ApiAccess
from heapster_source_kubernetes.gcpause import paused_gc
from heapster_source_kubernetes.kubelet import KubeletClient, KubeletTarget, ScrapeError, node_target
from heapster_source_kubernetes.summary import NodeInfo, SummaryError, SummaryShapes, decode_summary_columns

log = structlog.get_logger(__name__)


class KubeletSummaryUnit(ScrapeUnit):
    """Scrapes one node's ``/stats/summary/`` and decodes it into metric sets."""

    def __init__(self, target: KubeletTarget, client: KubeletClient, clock: Clock,
                 shapes: SummaryShapes | None = None) -> None:
        self.target = target
        self.name = f"kubelet_summary:{target.host_port}"
        self.node = target.node
        self._client = client
        self._clock = clock
        self.info = NodeInfo(target.node, target.hostname, target.host_id)
        self._shapes = shapes

    async def scrape(self, start: datetime, end: datetime) -> ColumnBatch:
        body = await self._client.get_summary(self.target)
        try:
            with paused_gc():
                batch = decode_summary_columns(body, self.info, self._clock.now(), self._shapes)
            self._client.recycle(body)  # decoded: nothing refers to the body (msgspec copies what it keeps)
            return batch
        except SummaryError as exc:
            problem = str(exc)
        except Exception as exc:  # a summary we failed to understand costs this node only
            log.exception("summary.decode.failed", node=self.node)
            problem = f"cannot decode summary: {exc}"
        # Raised here, outside the except blocks: the decode error's traceback (which holds the
        # body and what was decoded of it) is not chained to this error and is freed at once.
        del body
        raise ScrapeError("malformed", f"kubelet {self.target.host_port} of node {self.node}: {problem}")


class UnscrapableNode(ScrapeUnit):
    """A node that cannot be scraped this window (not ready, no address): fails with its reason."""

    timed = False

    def __init__(self, node: str, error: ScrapeError) -> None:
        self.name = f"kubelet_summary:{node}"
        self.node = node
        self.error = error

    async def scrape(self, start: datetime, end: datetime) -> dict[str, MetricSet]:
        raise ScrapeError(self.error.reason, str(self.error))


class KubernetesSource(MetricSource):
    """Lists nodes from the shared cluster cache and scrapes every kubelet's summary API."""

    name = "kubernetes.summary_api"

    def __init__(self, api: ApiAccess, cluster: KubernetesCluster, kubelets: KubeletClient, *,
                 host_id_annotation: str = "", clock: Clock | None = None, sync_timeout: float = 30.0,
                 probe: bool = True) -> None:
        self.api = api
        self._cluster = cluster
        self.kubelets = kubelets
        self.host_id_annotation = host_id_annotation
        self.clock: Clock = clock or SystemClock()
        self.sync_timeout = sync_timeout
        self.probe = probe
        self._started = False
        self.shapes = SummaryShapes()
        """Each node's entity table from its last summary, reused while its pods stay the same."""
        self._units: dict[int, tuple[dict[str, Any], ScrapeUnit]] = {}
        """Last window's unit of each node object (by identity): the informer stores a new object for every
        change, so an object seen again is the same node, reached the same way."""

    @property
    def cluster(self) -> ClusterState:
        return self._cluster

    @property
    def kubernetes_cluster(self) -> KubernetesCluster:
        return self._cluster

    async def start(self) -> None:
        """Check the credentials (:func:`probe_api`), then fill the caches."""
        if self._started:
            return
        if self.probe:
            await probe_api(self.api)
        await self._cluster.start(self.sync_timeout)
        self._started = True
        log.info("source.started", api=self.api.base_url, nodes=len(self._cluster.nodes),
                 pods=len(self._cluster.pods))

    async def scrape_units(self) -> Sequence[ScrapeUnit]:
        units: list[ScrapeUnit] = []
        settings = self.kubelets.settings
        known, kept = self._units, {}
        for node in self._cluster.list_nodes():
            found = known.get(id(node))
            if found is not None and found[0] is node:  # unchanged since the last window: its unit again
                unit = found[1]
            else:
                try:
                    target = node_target(node, settings, self.host_id_annotation)
                except ScrapeError as exc:
                    unit = UnscrapableNode((node.get("metadata") or {}).get("name", ""), exc)
                else:
                    unit = KubeletSummaryUnit(target, self.kubelets, self.clock, self.shapes)
            kept[id(node)] = (node, unit)
            units.append(unit)
        self._units = kept
        self.shapes.keep_only({unit.info for unit in units if isinstance(unit, KubeletSummaryUnit)})
        if not units:
            log.warning("source.no_nodes", api=self.api.base_url)
        return units

    async def close(self) -> None:
        await self._cluster.close()
        await self.kubelets.close()


PROBE_TIMEOUT = 10.0
"""Seconds the start-up probe waits for the API server."""


async def probe_api(api: ApiAccess) -> None:
    """List one node, as Heapster did at start, on the API's kept-alive connections (the informers' client:
    the ``kubernetes`` client and its ~14 MiB of modules are not imported for it).

    Bad credentials (401/403) and a failed TLS handshake (certificate, CA) raise :class:`RuntimeFailure`; an
    unreachable API server is only logged, as the watches retry until it answers.
    """
    client, origin = api.http_client()
    request = get_request(api.base_url + "/api/v1/nodes", params={"limit": "1"}, headers=api.headers())
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            answer = await client.get(origin, request)
    except FetchError as exc:
        # The client raises its own error "from None"; what it replaced tells a TLS failure from network trouble.
        if isinstance(exc.__context__, ssl.SSLError):
            msg = f"TLS to the Kubernetes API at {api.base_url} failed (check its certificate and the CA): {exc}"
            raise RuntimeFailure(msg) from None
        log.warning("source.probe.failed", api=api.base_url, error=str(exc))
        return
    except Exception as exc:  # network trouble, a timeout: the informers keep retrying
        log.warning("source.probe.failed", api=api.base_url, error=describe_error(exc))
        return
    if answer.status in (401, 403):
        msg = (f"the Kubernetes API at {api.base_url} refused to list nodes: HTTP {answer.status} "
               f"{HTTPStatus(answer.status).phrase}")
        raise RuntimeFailure(msg)
    if answer.status != 200:
        log.warning("source.probe.failed", api=api.base_url, status=answer.status,
                    error=bytes(answer.body[:300]).decode("utf-8", "replace"))
