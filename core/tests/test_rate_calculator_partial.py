"""The rate calculator (and the chain after it) on partial windows: node subsets that change from window to
window, sets forgotten after ``max_gap``, and windows in which no node answered.

The production failure this covers ("operands could not be broadcast together with shapes (0,) (25175,)" at
5000 nodes under load): a window forgot stale sets (``_forget_before`` emptied the remembered keys but kept
their slots), and the next window was empty (every node late). An empty key list equals the emptied one, so
the calculator took the stale slots of the window before as the empty window's and compared them with its
zero scrape times; the window was dropped.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from heapster.interfaces import PluginContext
from heapster.model import DataBatch, MetricType, MetricValue
from heapster.plugins import load_plugins
from heapster.processors import RateCalculator
from heapster.testing.batches import synthetic_batch

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
RESOLUTION = 15


def window(index: int, nodes: int) -> DataBatch:
    """The batch of window ``index`` (15 s apart) from the first ``nodes`` nodes (0: nobody answered)."""
    stamp = T0 + timedelta(seconds=RESOLUTION * index)
    if not nodes:
        return DataBatch(stamp, {})
    return synthetic_batch(stamp, nodes=nodes, pods=2, containers=2, seq=index)


def cpu_rates(batch: DataBatch) -> dict[str, int]:
    return {key: ms.values["cpu/usage_rate"].value for key, ms in batch.metric_sets.items()
            if "cpu/usage_rate" in ms.values}


def test_an_empty_window_after_sets_were_forgotten() -> None:
    """The minimal case: the window that forgets a stale node, then a window with no node at all."""
    calc = RateCalculator(max_gap=75)
    calc.apply(window(0, 3))
    calc.apply(window(6, 2))  # 90 s later: node-2's sets are stale and forgotten
    empty = window(7, 0)
    calc.apply(empty)
    assert len(empty.columns) == 0
    after = window(8, 3)
    calc.apply(after)
    rated = cpu_rates(after)
    assert rated and not any(key.startswith("node:node-2") or "pod-2-" in key for key in rated)  # forgotten
    assert "node:node-0" in rated and "node:node-1" in rated


@pytest.mark.parametrize("primed", [False, True])
def test_the_whole_chain_on_changing_partial_windows(primed: bool) -> None:
    """Large, tiny, large, empty, ... windows through every processor as the daemon builds them (rate
    calculator with its ``max_gap`` of 5 windows): no window fails, and each set that was seen in the window
    before gets its rate."""
    chain = load_plugins().build_processors(PluginContext(settings={"metric_resolution": RESOLUTION}))
    sizes = [40, 40, 3, 40, 3, 3, 3, 3, 3, 3, 0, 40, 0, 0, 3, 40, 40, 0, 40]
    previous: set[str] = set()
    for index, nodes in enumerate(sizes):
        batch = window(index, nodes)
        for processor in chain:
            batch = asyncio.run(processor.process(batch))
        if index == 0 and primed:
            for processor in chain:
                processor.primed()
            previous = set()
            continue
        expected = {key for key in batch.metric_sets if key in previous}
        assert expected <= set(cpu_rates(batch)), index
        rates_due = index > 0 and nodes > 0 and sizes[index - 1] > 0 and not (primed and index == 1)
        assert bool(expected) == rates_due, index
        previous = {key for key, ms in batch.metric_sets.items()
                    if key.startswith("node:") or "/container:" in key}  # the sets with their own counters


class _Colliding(str):
    """A key whose hash is every other key's: the rate calculator finds a slot by hash, then checks the key."""

    __slots__ = ()

    def __hash__(self) -> int:
        return 7


def test_keys_of_one_hash_keep_their_own_state() -> None:
    """Every key of one hash: each set still gets its own rates, through new sets, gaps and forgotten sets."""
    plain, colliding = RateCalculator(max_gap=75), RateCalculator(max_gap=75)
    rated = 0
    for index, nodes in ((0, 3), (1, 3), (2, 2), (3, 3), (9, 3), (10, 2), (11, 3)):
        batch = window(index, nodes)
        for order, key in enumerate(sorted(batch.metric_sets)):  # a rate of its own for each set
            values = batch.metric_sets[key].values
            usage = values.get("cpu/usage")
            if usage is not None:
                values["cpu/usage"] = MetricValue(int(usage.value) * (order + 1), MetricType.CUMULATIVE)
        same = DataBatch(batch.timestamp, {_Colliding(key): ms for key, ms in batch.metric_sets.items()})
        plain.apply(batch)
        colliding.apply(same)
        expected = cpu_rates(batch)
        assert {str(key): rate for key, rate in cpu_rates(same).items()} == expected, index
        rated += len(expected)
    assert rated and len(set(expected.values())) == len(expected)
