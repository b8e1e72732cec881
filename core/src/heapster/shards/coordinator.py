"""Per window: publish this shard's partial aggregates, gather every peer's, decide what each sink gets."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import structlog
from aiohttp import web

from heapster.columns import ColumnBatch
from heapster.model import DataBatch
from heapster.promregistry import Counter
from heapster.selfmetrics import REGISTRY
from heapster.shards.client import PeerAnswer, PeerClient
from heapster.shards.discovery import Peers
from heapster.shards.partials import Partial, PartialsBook, combine, split_aggregates
from heapster.shards.role import AggregatorRole
from heapster.uri import mask_uri

log = structlog.get_logger("heapster.shards")

PARTIALS_PATH = "/api/v1/shards/partials"
"""Internal route: ``?window=<epoch seconds>&wait=<seconds>`` -> this shard's partials of that window."""

aggregates_skipped = Counter(
    "heapster_shard_aggregates_skipped_total",
    "Windows whose namespace and cluster aggregates were not written because a shard's partial sums were missing.",
    registry=REGISTRY)
partials_missing = Counter(
    "heapster_shard_partials_missing_total", "Windows for which a shard's partial sums could not be fetched, by shard.",
    ["shard"], registry=REGISTRY)


def historical_fingerprint(historical_source: str) -> str:
    """What a shard tells its peers about its ``--historical_source``: a hash of the (masked) flag, "" for none."""
    if not historical_source:
        return ""
    return hashlib.sha256(mask_uri(historical_source).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class WindowBatches:
    """What one window gives: ``local`` for the in-memory store, ``export`` for the other sinks."""

    local: DataBatch
    export: DataBatch
    missing: dict[int, str] = field(default_factory=dict)
    """Shards whose partials were missing (shard -> why); the aggregates were then left out."""


class ShardCoordinator:
    """Combines the shards' partial namespace and cluster sums once per window.

    Every replica gathers the partials (its Model and metrics APIs answer for whole namespaces and
    the cluster); only the one whose ``role`` says so hands the combined aggregates to its sinks.
    Missing partials of any shard mean no aggregate at all for that window, never a partial one.
    """

    def __init__(self, peers: Peers, role: AggregatorRole, client: PeerClient, partials_wait: float,
                 historical: str = "") -> None:
        self.peers = peers
        self.role = role
        self.client = client
        self.partials_wait = partials_wait
        self.historical = historical
        """:func:`historical_fingerprint` of this shard's store: the historical API of a shard answers whole only
        when every shard writes to the one it reads, so peers compare theirs (served with the partials)."""
        self._told: set[tuple[int, str]] = set()
        self.book = PartialsBook()
        self.missing: dict[int, str] = {}
        """Shards missing from the newest window's aggregates (shard -> why)."""

    @property
    def index(self) -> int:
        return self.peers.index

    async def start(self) -> None:
        if self.peers.watch is not None:
            await self.peers.watch.start()

    async def close(self) -> None:
        if self.peers.watch is not None:
            await self.peers.watch.close()
        await self.client.close()

    async def finish(self, batch: DataBatch) -> WindowBatches:
        """Split ``batch`` (processed, this shard's nodes) into what the store and the sinks get."""
        rest, partial = split_aggregates(batch.columns)
        window = int(batch.timestamp.timestamp())
        await self.book.put(window, partial)
        shard_only = DataBatch(batch.timestamp, columns=rest)
        try:
            return await self._combined(batch, rest, partial, shard_only)
        except Exception as exc:  # a bug here must not cost the shard's own series
            aggregates_skipped.inc()
            log.exception("shards.aggregates.failed", window=batch.timestamp.isoformat(), error=str(exc))
            return WindowBatches(shard_only, shard_only, {self.index: str(exc)})

    async def _combined(self, batch: DataBatch, rest: ColumnBatch, partial: Partial,
                        shard_only: DataBatch) -> WindowBatches:
        window = int(batch.timestamp.timestamp())
        partials, missing = await self.gather(window)
        partials[self.index] = partial
        self.missing = missing
        if missing:
            aggregates_skipped.inc()
            for shard in missing:
                partials_missing.labels(shard=str(shard)).inc()
            log.warning("shards.aggregates.skipped", window=batch.timestamp.isoformat(),
                        missing={str(k): v for k, v in sorted(missing.items())},
                        note="namespace and cluster aggregates are not written for this window")
            return WindowBatches(shard_only, shard_only, missing)
        combined = combine([partials[i] for i in sorted(partials)])
        whole = DataBatch(batch.timestamp, columns=ColumnBatch.concat([rest, combined]))
        export = whole if self.role.is_aggregator() else shard_only
        return WindowBatches(whole, export)

    async def gather(self, window: int) -> tuple[dict[int, Partial], dict[int, str]]:
        """Every other shard's partials of ``window``, and the shards whose partials are missing (and why)."""
        urls = self.peers.urls()
        missing = {i: "no ready endpoint" for i in self.peers.others if i not in urls}
        wait = self.partials_wait
        answers = await self.client.get_all(
            {i: f"{url}{PARTIALS_PATH}?window={window}&wait={wait:g}" for i, url in urls.items()}, timeout=wait + 2)
        found: dict[int, Partial] = {}
        for shard, answer in answers.items():
            problem = _problem(shard, answer)
            if problem:
                missing[shard] = problem
            else:
                found[shard] = answer.body["partial"]
                self._compare_historical(shard, str(answer.body.get("historical", "")))
        return found, missing

    def _compare_historical(self, shard: int, theirs: str) -> None:
        """Warn once per peer and store when a peer's ``--historical_source`` is not this shard's."""
        if theirs == self.historical or (shard, theirs) in self._told:
            return
        self._told.add((shard, theirs))
        log.warning("shards.historical.differs", this_shard=self.index, shard=shard,
                    note="the two shards' --historical_source differ (or one has none): /api/v1/historical answers "
                         "from each shard's own store, whole only when every shard writes to the one it reads; "
                         "give every shard the same --sink and --historical_source")

    async def serve_partials(self, request: web.Request) -> web.Response:
        """The internal route: this shard's partials of ``window``, waiting up to ``wait`` seconds for them."""
        try:
            window = int(request.query["window"])
            wait = min(float(request.query.get("wait", "0")), 60.0)
        except (KeyError, ValueError):
            return web.Response(status=400, text="need ?window=<epoch seconds>[&wait=<seconds>]")
        partial = await self.book.wait_for(window, wait)
        if partial is None:
            return web.Response(status=404, text=f"shard {self.index} has no partial sums for window {window}")
        return web.json_response({"shard": self.index, "window": window, "partial": partial,
                                  "historical": self.historical})


def _problem(shard: int, answer: PeerAnswer) -> str:
    if answer.error:
        return answer.error
    if answer.status != 200:
        return f"HTTP {answer.status}: {answer.body}"
    body = answer.body
    if not isinstance(body, dict) or body.get("shard") != shard or not isinstance(body.get("partial"), dict):
        return f"answered as shard {body.get('shard') if isinstance(body, dict) else '?'}"
    return ""
