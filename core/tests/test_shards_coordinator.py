"""Two shard coordinators exchanging partial sums over their real internal HTTP route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from aiohttp import web

from heapster import keys
from heapster.columns import CLUSTER, NAMESPACE, POD_CONTAINER
from heapster.model import DataBatch, MetricType
from heapster.scheduler import in_shard
from heapster.shards.client import PeerClient
from heapster.shards.coordinator import PARTIALS_PATH, ShardCoordinator
from heapster.shards.discovery import Peers, PeerService
from heapster.shards.role import FirstShard
from heapster.testing.batches import synthetic_batch
from heapster.testing.shards import StaticEndpointSlices, aggregated, shard_of

NOW = datetime(2026, 1, 2, 3, 5, tzinfo=UTC)
COUNT = 3


def processed(index: int | None) -> DataBatch:
    """The window as shard ``index`` (None: one unsharded process) has it after the processors."""
    batch = synthetic_batch(NOW, nodes=6, pods=4, namespaces=("default", "apps"))
    cols = batch.columns
    containers = cols.rows_of_type(POD_CONTAINER)  # a float rate too, as the rate calculator would add
    cols.set_values("cpu/usage_rate", containers, np.array([0.37 * (r % 7) + 0.1 for r in containers.tolist()]),
                    MetricType.GAUGE)
    return aggregated(batch if index is None else shard_of(batch, index, COUNT))


@pytest.fixture
async def coordinators() -> AsyncIterator[list[ShardCoordinator]]:
    slices = StaticEndpointSlices()
    made, runners = [], []
    for index in range(COUNT):
        coordinator = ShardCoordinator(Peers(index, COUNT, slices, PeerService("ns", "heapster")),
                                       FirstShard(index), PeerClient(2.0), partials_wait=1.0)
        app = web.Application()
        app.router.add_get(PARTIALS_PATH, coordinator.serve_partials)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        slices.add(f"heapster-{index}", runner.addresses[0][1], ready=None)
        made.append(coordinator)
        runners.append(runner)
    yield made
    for coordinator, runner in zip(made, runners, strict=True):
        await coordinator.close()
        await runner.cleanup()


def aggregates(batch: DataBatch) -> dict[str, dict[str, Any]]:
    cols = batch.columns
    return {cols.keys[r]: {n: c.cell(r) for n, c in cols.values.items() if c.cell(r) is not None}
            for r in np.flatnonzero(np.isin(cols.types, (NAMESPACE, CLUSTER))).tolist()}


def assert_sums(found: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]) -> None:
    """Sums of sums: equal but for float rounding, ints staying ints."""
    assert found.keys() == expected.keys()
    for key, values in expected.items():
        assert found[key] == pytest.approx(values, rel=1e-12), key
        assert isinstance(found[key]["memory/usage"], int) and isinstance(found[key]["cpu/usage_rate"], float)


async def test_every_shard_stores_the_whole_clusters_aggregates_and_only_shard_0_exports_them(
        coordinators: list[ShardCoordinator]) -> None:
    import asyncio

    results = await asyncio.gather(*(c.finish(processed(i)) for i, c in enumerate(coordinators)))
    whole = aggregates(processed(None))
    assert {keys.CLUSTER_KEY, "namespace:default", "namespace:apps"} <= whole.keys()
    for index, result in enumerate(results):
        assert not result.missing
        assert_sums(aggregates(result.local), whole)
        if index == 0:
            assert_sums(aggregates(result.export), whole)
        else:
            assert aggregates(result.export) == {}
        shard_nodes = {k for k in result.export.columns.keys if not k.startswith(("namespace:", "cluster"))}
        assert shard_nodes and all(in_shard(k.split(":")[1].split("/")[0], index, COUNT)
                                   for k in shard_nodes if k.startswith("node:"))


async def test_a_missing_shard_means_no_aggregate_at_all(coordinators: list[ShardCoordinator]) -> None:
    import asyncio

    results = await asyncio.gather(coordinators[0].finish(processed(0)), coordinators[1].finish(processed(1)))
    for result in results:
        assert set(result.missing) == {2} and "HTTP 404" in result.missing[2]  # it never had this window
        assert aggregates(result.local) == {} and aggregates(result.export) == {}
        assert len(result.local) > 0
    assert coordinators[0].missing == results[0].missing


async def test_a_peer_reading_history_from_another_store_is_named_once(
        coordinators: list[ShardCoordinator]) -> None:
    import asyncio

    from structlog.testing import capture_logs

    from heapster.shards.coordinator import historical_fingerprint

    shared = historical_fingerprint("influxdb:http://influx:8086?db=k8s&pw=secret")
    assert shared == historical_fingerprint("influxdb:http://influx:8086?db=k8s&pw=other")  # secrets masked first
    for coordinator in coordinators:
        coordinator.historical = shared
    coordinators[1].historical = historical_fingerprint("influxdb:http://influx:8086?db=heapster-1")
    with capture_logs() as logs:
        await asyncio.gather(*(c.finish(processed(i)) for i, c in enumerate(coordinators)))
        await coordinators[0].gather(int(NOW.timestamp()))  # told once per peer
    differs = sorted((e["this_shard"], e["shard"]) for e in logs if e["event"] == "shards.historical.differs")
    assert differs == [(0, 1), (1, 0), (1, 2), (2, 1)]
