"""The ``static`` source behaves like a cluster whose counters grow: consecutive windows give rates."""

from __future__ import annotations

from datetime import UTC, datetime

from heapster.model import DataBatch
from heapster.processors.rate_calculator import RateCalculator
from heapster.testing.static import synthetic_source


async def test_consecutive_windows_yield_cpu_rates() -> None:
    source = synthetic_source(nodes=2, pods=1, containers=1)
    rates = RateCalculator()
    batches = []
    for end in (1_700_000_060.0, 1_700_000_120.0):
        batch = DataBatch(datetime.fromtimestamp(end, UTC))
        for unit in await source.scrape_units():
            batch.metric_sets.update(await unit.scrape(datetime.fromtimestamp(end - 60, UTC), batch.timestamp))
        batches.append(await rates.process(batch))
    first, second = batches
    assert "cpu/usage_rate" not in first.metric_sets["node:node-1"].values
    node = second.metric_sets["node:node-1"]
    assert node.values["cpu/usage_rate"].value > 0
    assert set(second.metric_sets) >= {"node:node-0", "node:node-1", "namespace:default/pod:pod-1-0"}
