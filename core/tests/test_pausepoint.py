"""Pause points of the pipeline's worker threads: the processors and the window's join let a young API request go
first, and give the same results."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from heapster import pausepoint
from heapster.apifirst import ApiFirst
from heapster.columns import BatchBuilder, ColumnBatch
from heapster.interfaces import ColumnProcessor
from heapster.model import DataBatch, MetricType
from heapster.processors import ClusterAggregator, NamespaceAggregator, NodeAggregator, PodAggregator, RateCalculator
from heapster.processors.aggregate import SameInput
from heapster.processors.runs import SAME_PART, same_objects
from heapster.testing.batches import column_batch_differences, synthetic_batch
from heapster.testing.net import wait_until

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def pauses() -> Iterator[list[str]]:
    """Every pause point reached, by the name of its thread (the hook is taken away afterwards)."""
    seen: list[str] = []
    pausepoint.pause_with(lambda: seen.append(threading.current_thread().name))
    try:
        yield seen
    finally:
        pausepoint.pause_with(None)


def test_a_pause_point_does_nothing_until_the_daemon_sets_a_hook() -> None:
    pausepoint.pause()  # no hook: returns
    calls: list[int] = []
    pausepoint.pause_with(lambda: calls.append(1))
    pausepoint.pause()
    pausepoint.pause_with(None)
    pausepoint.pause()
    assert calls == [1]


def test_same_objects_compares_a_long_list_in_parts_with_a_pause_between_two(pauses: list[str]) -> None:
    objects = [{"n": str(n)} for n in range(3 * SAME_PART + 5)]
    assert same_objects(objects, list(objects))
    assert len(pauses) == 4  # one per part
    pauses.clear()
    last_differs = [*objects[:-1], dict(objects[-1])]  # equal, not the same object
    assert not same_objects(objects, last_differs)
    first_differs = [dict(objects[0]), *objects[1:]]
    assert not same_objects(objects, first_differs)
    assert not same_objects(objects, objects[:-1])
    assert same_objects(objects[:10], list(objects[:10]))


def test_same_input_sees_a_changed_key_in_any_part() -> None:
    batch = synthetic_batch(T0, nodes=1, pods=1).columns
    rows = batch.rows_of_type("pod")
    check = SameInput()
    assert not check.check(batch, rows)
    assert check.check(batch, rows)
    long_keys = [f"k{n}" for n in range(2 * SAME_PART + 1)]
    check.keys = list(long_keys)
    batch.keys = long_keys
    check.rows, check.labels = rows, [batch.labels[row] for row in rows.tolist()]
    assert check.check(batch, rows)
    batch.keys = [*long_keys[:-1], "other"]
    assert not check.check(batch, rows)


def _chain() -> list[ColumnProcessor]:
    return [RateCalculator(), PodAggregator(), NamespaceAggregator(), NodeAggregator(), ClusterAggregator()]


def _processed(chain: list[ColumnProcessor], current: list[str] | None = None) -> ColumnBatch:
    """Two windows of a synthetic cluster through ``chain`` (the second has rates); ``current`` gets the name of
    the processor running."""
    last = None
    for seq in range(2):
        batch = synthetic_batch(T0 + timedelta(minutes=seq), nodes=3, pods=3, seq=seq, namespaces=("a", "b"))
        for processor in chain:
            if current is not None:
                current[:] = [processor.name]
            processor.apply(batch)
        last = batch
    assert last is not None
    return last.columns


def test_each_processor_pauses_in_its_own_thread_and_gives_the_same_batch() -> None:
    expected = _processed(_chain())
    current = [""]
    seen: list[tuple[str, str]] = []
    pausepoint.pause_with(lambda: seen.append((current[0], threading.current_thread().name)))
    try:
        chain = _chain()
        result: list[ColumnBatch] = []
        worker = threading.Thread(target=lambda: result.append(_processed(chain, current)), name="worker")
        worker.start()
        worker.join(30)
    finally:
        pausepoint.pause_with(None)
    assert not column_batch_differences(result[0], expected)
    assert {name for name, _ in seen} == {processor.name for processor in chain}
    assert {thread for _, thread in seen} == {"worker"}


def test_a_processor_waits_at_a_pause_point_while_a_young_request_is_in_flight() -> None:
    expected = _processed(_chain())
    first = ApiFirst(span=60.0)
    pausepoint.pause_with(first.wait)
    try:
        token = first.begin()
        result: list[ColumnBatch] = []
        worker = threading.Thread(target=lambda: result.append(_processed(_chain())))
        worker.start()
        wait_until(lambda: first.waiting == 1, timeout=10.0)
        assert worker.is_alive() and not result  # stopped mid-chain while the request is answered
        first.end(token)
        worker.join(30)
    finally:
        pausepoint.pause_with(None)
    assert not column_batch_differences(result[0], expected)
    assert first.paused > 0


def test_the_join_pauses_between_parts_and_joins_the_same(pauses: list[str]) -> None:
    def parts() -> list[ColumnBatch]:
        made = []
        for n in range(3 * 64 + 1):
            builder = BatchBuilder()
            row = builder.entity(f"node:n{n}", {"type": "node", "nodename": f"n{n}"})
            builder.value(row, "memory/usage", n, MetricType.GAUGE)
            made.append(builder.lazy())
        return made

    pausepoint.pause_with(None)
    expected = ColumnBatch.concat(parts())
    pausepoint.pause_with(lambda: pauses.append(threading.current_thread().name))
    joined = ColumnBatch.concat(parts())
    assert not column_batch_differences(joined, expected)
    assert len(pauses) >= 4  # one every 64 parts, and between the join's steps
    assert len(DataBatch(T0, columns=joined)) == 3 * 64 + 1
