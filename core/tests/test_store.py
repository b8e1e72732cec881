"""The in-memory metric store: retention, queries, types, ordering and memory reuse."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from heapster.api import export
from heapster.api.responses import go_json
from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricType, MetricValue
from heapster.store import MetricStore, chunks, create_metric_store
from heapster.store import memory as store_memory
from heapster.store.columns import BLOCK, INT_MISSING, Plain, sorted_unique
from heapster.testing import synthetic_batch

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
C, G = MetricType.CUMULATIVE, MetricType.GAUGE


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def node_set(i: int, **extra: MetricValue) -> MetricSet:
    return MetricSet(
        {"type": "node", "hostname": "a", "nodename": "a"},
        {"cpu/usage_rate": MetricValue(i), "memory/node_utilization": MetricValue(i / 4), **extra},
        [LabeledMetric("filesystem/usage", {"resource_id": "/"}, 100 + i),
         LabeledMetric("filesystem/usage", {"resource_id": "logs"}, 200 + i),
         LabeledMetric("accelerator/duty_cycle", {"make": "nvidia", "model": "t4", "accelerator_id": "g0"}, 7)],
        collection_start=T0 - timedelta(hours=1),
    )


def values(points: list[store_memory.Point]) -> list[int | float]:
    return [p.value for p in points]


def test_keeps_every_metric_for_the_configured_duration() -> None:
    store = create_metric_store({"store_duration": 600})
    for minute in range(25):
        store.ingest(DataBatch(at(minute), {"node:a": node_set(minute)}))
    points = store.get_metric("cpu/usage_rate", ["node:a"])["node:a"]
    # 600 s retention at 60 s: the ten newest batches (ts > newest - 600 s).
    assert [p.timestamp for p in points] == [at(m) for m in range(15, 25)]
    assert values(points) == list(range(15, 25))
    assert values(store.get_metric("memory/node_utilization", ["node:a"])["node:a"]) == [m / 4 for m in range(15, 25)]
    # The ring reuses blocks of slots instead of growing: 10 live slots span at most 3 blocks.
    assert len(store.slot_ts) <= 3 * BLOCK


def test_default_is_fifteen_minutes() -> None:
    store = create_metric_store({})
    for minute in range(20):
        store.ingest(DataBatch(at(minute), {"node:a": node_set(minute)}))
    assert len(store.get_metric("cpu/usage_rate", ["node:a"])["node:a"]) == 15


def test_time_window_is_inclusive_and_types_are_kept() -> None:
    store = MetricStore()
    for minute in range(5):
        store.ingest(DataBatch(at(minute), {"node:a": node_set(minute)}))
    found = store.get_metric("cpu/usage_rate", ["node:a", "node:zzz"], at(1), at(3))
    assert list(found) == ["node:a"]
    assert values(found["node:a"]) == [1, 2, 3]
    assert all(type(v) is int for v in values(found["node:a"]))
    floats = store.get_metric("memory/node_utilization", ["node:a"], at(3), None)["node:a"]
    assert values(floats) == [0.75, 1.0] and all(type(v) is float for v in values(floats))
    assert store.get_metric("cpu/usage_rate", ["node:a"], at(10), at(11)) == {}
    assert store.get_metric("no/such_metric", ["node:a"]) == {}


def test_labeled_metric_needs_the_exact_label_set() -> None:
    store = MetricStore()
    store.ingest(DataBatch(at(0), {"node:a": node_set(0)}))
    store.ingest(DataBatch(at(1), {"node:a": node_set(1)}))
    assert values(store.get_labeled_metric("filesystem/usage", {"resource_id": "logs"}, ["node:a"])["node:a"]) == [
        200, 201]
    labels = {"accelerator_id": "g0", "model": "t4", "make": "nvidia"}  # any order
    assert values(store.get_labeled_metric("accelerator/duty_cycle", labels, ["node:a"])["node:a"]) == [7, 7]
    assert store.get_labeled_metric("accelerator/duty_cycle", {"make": "nvidia"}, ["node:a"]) == {}
    assert store.get_labeled_metric("filesystem/usage", {"resource_id": "/", "x": "y"}, ["node:a"]) == {}


def test_out_of_order_and_repeated_batches() -> None:
    store = MetricStore(duration=300)
    store.ingest(DataBatch(at(2), {"node:a": node_set(2)}))
    store.ingest(DataBatch(at(1), {"node:a": node_set(1), "node:b": node_set(50)}))  # late
    assert store.latest_timestamp == at(2)
    assert store.latest_keys() == ["node:a"]                # the late batch is not the latest
    assert values(store.get_metric("cpu/usage_rate", ["node:a"])["node:a"]) == [1, 2]
    store.ingest(DataBatch(at(2), {"node:c": node_set(9)}))  # same timestamp again: merged into that slot
    assert sorted(store.latest_keys()) == ["node:a", "node:c"] and store.latest_size == 2
    store.ingest(DataBatch(at(-10), {"node:a": node_set(-10)}))  # older than the retention: dropped
    assert values(store.get_metric("cpu/usage_rate", ["node:a"])["node:a"]) == [1, 2]


def test_latest_batch_queries() -> None:
    store = MetricStore()
    assert store.latest_timestamp is None and store.latest_size == 0 and store.latest_sets() == {}
    batch = synthetic_batch(at(0), nodes=2, pods=1, containers=2)
    store.ingest(batch)
    assert store.latest_timestamp == at(0) and store.latest_size == len(batch.metric_sets) == 8
    assert sorted(store.latest_keys()) == sorted(batch.metric_sets)
    key = "namespace:default/pod:pod-0-0/container:c1"
    assert store.labels(key) == batch.metric_sets[key].labels
    assert store.latest_value(key, "memory/working_set") == 8_000_000
    assert store.latest_value(key, "cpu/usage_rate") is None
    latest = store.latest_sets(frozenset({"pod_container"}))[key]
    assert latest.values["cpu/usage"] == (1_000_000_007, C)
    assert latest.collection_start == batch.metric_sets[key].collection_start
    assert sorted((n, lab["resource_id"], v) for n, lab, v, _ in latest.labeled) == [
        ("filesystem/limit", "/", 10_000_000), ("filesystem/usage", "/", 4096)]
    assert store.metric_names("node:node-0") == sorted(batch.metric_sets["node:node-0"].values)
    assert store.metric_names("node:unknown") == []


def test_gone_entities_are_forgotten_and_rows_reused() -> None:
    store = MetricStore(duration=120)
    for minute in range(3):
        sets = {f"namespace:ns/pod:p{minute}-{i}": MetricSet({"type": "pod"}, {"memory/usage": MetricValue(i)})
                for i in range(50)}
        store.ingest(DataBatch(at(minute), sets))
    column = store.columns["memory/usage"]
    # Each minute's pods are new; those two minutes old are expired and their rows reused.
    assert len(store.entities) == 100
    assert column.used <= 150
    assert "namespace:ns/pod:p0-1" not in store and "namespace:ns/pod:p2-1" in store
    for minute in range(3, 12):
        sets = {f"namespace:ns/pod:p{minute}-{i}": MetricSet({"type": "pod"}, {"memory/usage": MetricValue(i)})
                for i in range(50)}
        store.ingest(DataBatch(at(minute), sets))
    assert column.used <= 150 and len(store.entities) == 100


def test_labeled_series_of_reused_ids_are_their_own() -> None:
    """Expired entities and series give their ids to new ones: a new entity's series never answer with
    (or write into) the old entity's series, whatever order its label dicts come in."""
    store = MetricStore(duration=120)

    def disk(key: str, value: int, reverse: bool = False) -> dict[str, MetricSet]:
        device = {"resource_id": "/", "device": "sda"}
        if reverse:
            device = dict(reversed(device.items()))
        return {key: MetricSet({"type": "node"}, {}, [LabeledMetric("filesystem/usage", device, value),
                                                       LabeledMetric("filesystem/usage", {"resource_id": "logs"},
                                                                     value + 1)])}

    store.ingest(DataBatch(at(0), disk("node:old", 1)))
    store.ingest(DataBatch(at(1), disk("node:keep", 10)))
    store.ingest(DataBatch(at(2), disk("node:keep", 11, reverse=True)))  # node:old expires, its ids are free
    store.ingest(DataBatch(at(3), {**disk("node:keep", 12), **disk("node:new", 50, reverse=True)}))
    root = {"resource_id": "/", "device": "sda"}
    assert store.entities.get("node:new") is not None
    assert values(store.get_labeled_metric("filesystem/usage", root, ["node:new"])["node:new"]) == [50]
    assert values(store.get_labeled_metric("filesystem/usage", {"resource_id": "logs"}, ["node:new"])[
        "node:new"]) == [51]
    assert values(store.get_labeled_metric("filesystem/usage", root, ["node:keep"])["node:keep"]) == [11, 12]
    assert "node:old" not in store
    assert len(store.series) == 4


def test_labels_changes_are_kept() -> None:
    store = MetricStore()
    store.ingest(DataBatch(at(0), {"node:a": MetricSet({"type": "node", "labels": "x:1"}, {"m": MetricValue(1)})}))
    store.ingest(DataBatch(at(1), {"node:a": MetricSet({"type": "node", "labels": "x:2"}, {"m": MetricValue(1)})}))
    assert store.labels("node:a") == {"type": "node", "labels": "x:2"}


def test_column_turns_float_when_a_float_arrives() -> None:
    store = MetricStore()
    store.ingest(DataBatch(at(0), {"node:a": MetricSet({"type": "node"}, {"custom/q": MetricValue(3)})}))
    store.ingest(DataBatch(at(1), {"node:a": MetricSet({"type": "node"}, {"custom/q": MetricValue(2.5)})}))
    store.ingest(DataBatch(at(2), {"node:a": MetricSet({"type": "node"}, {"custom/q": MetricValue(2**70)})}))
    assert values(store.get_metric("custom/q", ["node:a"])["node:a"]) == [3.0, 2.5, float(2**70)]


async def test_export_off_the_loop_and_readers_never_see_a_half_written_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_memory, "CHUNK", 3)
    store = MetricStore()
    await store.export(synthetic_batch(at(0), nodes=2, pods=2, containers=1))
    seen: list[tuple[datetime | None, int]] = []

    async def reader() -> None:
        for _ in range(20):
            with store.reading():
                seen.append((store.latest_timestamp, len(store.latest_keys())))
            await asyncio.sleep(0)

    batch = synthetic_batch(at(1), nodes=2, pods=2, containers=1)
    await asyncio.gather(store.export(batch), reader())
    assert {n for _, n in seen} == {10}
    assert {ts for ts, _ in seen} <= {at(0), at(1)}
    assert store.latest_timestamp == at(1) and len(store.latest_keys()) == 10


def test_a_value_that_is_not_a_number_loses_nothing_else() -> None:
    store = MetricStore()
    bad = MetricSet({"type": "node"}, {"custom/q": MetricValue("oops"), "memory/usage": MetricValue(5)})  # type: ignore[arg-type]
    good = MetricSet({"type": "node"}, {"custom/q": MetricValue(1.5), "memory/usage": MetricValue(6)})
    store.ingest(DataBatch(at(0), {"node:a": bad, "node:b": good}))
    assert store.get_metric("custom/q", ["node:a", "node:b"]) == {"node:b": [store_memory.Point(at(0), 1.5)]}
    assert values(store.get_metric("memory/usage", ["node:a"])["node:a"]) == [5]


# --- constant columns ----------------------------------------------------------------------------------


def request_set(value: int | None, extra: int = 0) -> MetricSet:
    values = {"memory/usage": MetricValue(extra)}
    if value is not None:
        values["cpu/request"] = MetricValue(value)
    return MetricSet({"type": "pod_container"}, values)


def test_unchanging_metric_is_stored_once_per_series() -> None:
    store = MetricStore()
    for minute in range(5):
        store.ingest(DataBatch(at(minute), {"c:a": request_set(100, minute), "c:b": request_set(250, minute)}))
    column = store.columns["cpu/request"]
    assert column.is_constant                                # still one value per row
    assert not store.columns["memory/usage"].is_constant     # changes: a matrix
    assert values(store.get_metric("cpu/request", ["c:a"])["c:a"]) == [100] * 5
    assert [p.timestamp for p in store.get_metric("cpu/request", ["c:b"], at(3))["c:b"]] == [at(3), at(4)]
    assert store.latest_sets()["c:b"].values["cpu/request"] == (250, G)


def test_constant_column_knows_when_a_series_had_no_value() -> None:
    store = MetricStore()
    store.ingest(DataBatch(at(0), {"c:a": request_set(100), "c:b": request_set(None)}))   # b has no request yet
    store.ingest(DataBatch(at(1), {"c:a": request_set(100), "c:b": request_set(7)}))
    store.ingest(DataBatch(at(2), {"c:a": request_set(None), "c:b": request_set(7)}))     # a lost it
    store.ingest(DataBatch(at(3), {"c:b": request_set(7)}))                               # a is gone
    found = store.get_metric("cpu/request", ["c:a", "c:b"])
    assert [(p.timestamp, p.value) for p in found["c:a"]] == [(at(0), 100), (at(1), 100)]
    assert [(p.timestamp, p.value) for p in found["c:b"]] == [(at(1), 7), (at(2), 7), (at(3), 7)]


def test_a_merged_batch_keeps_a_constant_column_constant() -> None:
    """A batch on a stored window's timestamp adds its sets to that window: a constant column stays constant
    (it did turn dense, for good, on every merge) unless the merge brings a present owner without a value."""
    store = MetricStore()
    store.ingest(DataBatch(at(0), {"c:a": request_set(100), "c:b": request_set(250)}))
    store.ingest(DataBatch(at(1), {"c:a": request_set(100)}))
    store.ingest(DataBatch(at(1), {"c:b": request_set(250), "c:c": request_set(5)}))    # the rest of minute 1
    store.ingest(DataBatch(at(0), {"c:a": request_set(100)}))                          # minute 0 again
    assert store.columns["cpu/request"].is_constant
    found = store.get_metric("cpu/request", ["c:a", "c:b", "c:c"])
    assert {key: [(p.timestamp, p.value) for p in points] for key, points in found.items()} == {
        "c:a": [(at(0), 100), (at(1), 100)], "c:b": [(at(0), 250), (at(1), 250)], "c:c": [(at(1), 5)]}
    store.ingest(DataBatch(at(1), {"c:d": request_set(None)}))   # no request ever: no row, nothing to mark
    store.ingest(DataBatch(at(0), {"c:c": request_set(5)}))      # c was not in minute 0 before
    assert store.columns["cpu/request"].is_constant
    store.ingest(DataBatch(at(1), {"c:e": request_set(9)}))
    store.ingest(DataBatch(at(0), {"c:e": request_set(None)}))   # e in minute 0 without its request
    assert not store.columns["cpu/request"].is_constant
    found = store.get_metric("cpu/request", ["c:a", "c:b", "c:c", "c:d", "c:e"])
    assert {key: [(p.timestamp, p.value) for p in points] for key, points in found.items()} == {
        "c:a": [(at(0), 100), (at(1), 100)], "c:b": [(at(0), 250), (at(1), 250)],
        "c:c": [(at(0), 5), (at(1), 5)], "c:e": [(at(1), 9)]}
    assert sorted(store.latest_keys()) == ["c:a", "c:b", "c:c", "c:d", "c:e"]


def test_a_changed_value_keeps_the_history() -> None:
    store = MetricStore()
    for minute, value in enumerate((3, 3, 4, 4)):
        store.ingest(DataBatch(at(minute), {"c:a": MetricSet({"type": "x"}, {"restart_count": MetricValue(value)})}))
    assert values(store.get_metric("restart_count", ["c:a"])["c:a"]) == [3, 3, 4, 4]
    assert not store.columns["restart_count"].is_constant


async def test_change_in_a_later_chunk_keeps_earlier_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_memory, "CHUNK", 2)
    store = MetricStore()
    keys = [f"c:{i}" for i in range(6)]
    await store.export(DataBatch(at(0), {k: request_set(100) for k in keys}))
    second = {k: request_set(100) for k in keys}
    second["c:5"] = request_set(999)            # written in the last chunk: the column turns dense then
    await store.export(DataBatch(at(1), second))
    found = store.get_metric("cpu/request", keys)
    assert [values(found[k]) for k in keys] == [[100, 100]] * 5 + [[100, 999]]


def test_reused_ids_do_not_inherit_presence() -> None:
    store = MetricStore(duration=120)
    store.ingest(DataBatch(at(0), {"c:old": request_set(None, 1)}))
    store.ingest(DataBatch(at(1), {"c:keep": request_set(5)}))
    store.ingest(DataBatch(at(2), {"c:keep": request_set(5)}))   # c:old expires; its id is free
    store.ingest(DataBatch(at(3), {"c:keep": request_set(5), "c:new": request_set(8)}))
    assert values(store.get_metric("cpu/request", ["c:new"])["c:new"]) == [8]
    assert store.columns["cpu/request"].is_constant


def test_sealed_blocks_answer_as_plain_ones() -> None:
    """A reference model (dict per timestamp) against the store over many blocks: values that change, stay,
    vanish and come back, ints turning float, late and repeated batches, expiry, entities that come and go."""
    rng = random.Random(7)
    duration = 600
    store = MetricStore(duration=duration)
    seen: dict[datetime, dict[str, dict[str, int | float]]] = {}
    keys = [f"c:{i}" for i in range(40)]
    names = ("steady", "counter", "gauge", "sometimes", "late_float")
    steps = [at(m) for m in range(60)]
    steps[20:20] = [at(19)]          # a repeated batch (merged into its slot)
    steps[40:40] = [at(33.5)]        # a late batch, older than the newest, in a sealed block
    steps[50:50] = [at(33.5)]        # and once more into that block, sealed again
    for stamp in steps:
        sets = {}
        for n, key in enumerate(keys):
            if rng.random() < 0.1 or (n >= 30 and stamp > at(25)):
                continue                                 # missing this round / gone for good
            vals: dict[str, int | float] = {"steady": n, "counter": int(stamp.timestamp()) * (n + 1)}
            if rng.random() < 0.7:
                vals["gauge"] = rng.randrange(-5, 5)
            if n % 3 == 0 and rng.random() < 0.5:
                vals["sometimes"] = 10 ** 15 + n
            if stamp > at(30):
                vals["late_float"] = rng.random() if n % 2 else float("nan")
            elif n == 3:
                vals["late_float"] = 2
            sets[key] = MetricSet({"type": "pod_container"}, {k: MetricValue(v) for k, v in vals.items()})
        store.ingest(DataBatch(stamp, sets))
        slot = seen.setdefault(stamp, {})
        for key, ms in sets.items():
            slot.setdefault(key, {}).update({k: mv.value for k, mv in ms.values.items()})
    assert store.blocks.count * BLOCK < len(set(steps))   # blocks were dropped and reused
    newest = max(seen)
    live = sorted(ts for ts in seen if ts > newest - timedelta(seconds=duration))
    for name in names:
        found = store.get_metric(name, keys)
        for key in keys:
            expected = [(ts, seen[ts][key][name]) for ts in live
                        if name in seen[ts].get(key, {}) and seen[ts][key][name] == seen[ts][key][name]]
            got = [(p.timestamp, p.value) for p in found.get(key, [])]
            assert got == expected, (name, key)
            if name == "late_float":
                assert all(isinstance(v, float) for _, v in got)
    assert any(column.chunks for column in store.columns.values())


def test_chunks_keep_every_bit() -> None:
    ints = np.array([[INT_MISSING, 5, -(2 ** 63) + 1, 2 ** 63 - 1, 0, INT_MISSING, 7, 7]] * 3, dtype=np.int64)
    floats = np.array([[np.nan, -0.0, 0.0, 1e308, -np.inf, 5e-324, np.nan, 1.5]], dtype=np.float64)
    for cells in (ints, floats):
        back = chunks.decode(chunks.encode(cells))
        assert back.dtype == cells.dtype
        assert back.tobytes() == cells.tobytes()


def test_rates_are_sealed_as_exact_ratios_and_keep_every_bit() -> None:
    rng = np.random.default_rng(7)
    steps = rng.integers(0, 3_000_000, (3000, BLOCK))
    seconds = rng.choice([9, 10, 10, 10, 11, 20], (3000, BLOCK))
    rates = 1e9 * steps / (seconds * 1_000_000_000)  # as the rate calculator divides
    rates[5] = np.nan
    rates[6, 3] = np.nan
    rates[7, 2] = -0.0
    rates[8] = [np.pi, -np.inf, np.inf, 1e300, -1e300, 5e-324, 2.0 ** 62, -(2.0 ** 62)]
    rates[9] = rates[10] + rates[11]  # a sum of rates: mostly no exact ratio
    rates[12] = 0.0
    for cells, as_ratios in ((rates, True), (rates[:1], True), (rates[:, ::-1].copy(), True), (rates[8:9], False)):
        sealed = chunks.encode(cells)
        assert sealed.ratio == as_ratios
        assert chunks.decode(sealed).tobytes() == cells.tobytes()
    xor_only = chunks._compress(chunks._xor(rates[:1024].view(np.int64)).T)
    assert chunks.encode(rates[:1024]).nbytes < 0.8 * len(xor_only)


def test_every_order_of_differences_keeps_every_bit_and_smooth_series_take_the_second() -> None:
    rng = np.random.default_rng(10)
    times = np.arange(BLOCK) * 10.0 + rng.normal(0, 0.02, (2048, BLOCK))
    smooth = (rng.integers(1, 10**8, (2048, 1)) * times).astype(np.int64)  # counters at steady rates, jittered
    random_steps = np.cumsum(rng.integers(0, 2 * 10**8, (2048, BLOCK)), axis=1)
    assert chunks.order_of(smooth) == 2
    assert chunks.order_of(random_steps) == 1
    rates = 1e9 * np.diff(random_steps, axis=1, prepend=0) / 10_000_000_000
    assert chunks.order_of(rates) == 0  # a rate of random steps: its numerators as they are
    assert chunks.order_of(1e9 * np.diff(smooth, axis=1, prepend=0) / 10_000_000_000) == 1
    edges = np.array([[INT_MISSING, 5, -(2 ** 63) + 1, 2 ** 63 - 1, 0, INT_MISSING, 7, 7],
                      [2 ** 63 - 1, -(2 ** 63), 2 ** 63 - 1, -(2 ** 63), 0, 1, -1, INT_MISSING]], dtype=np.int64)
    wild = np.array([[np.nan, -0.0, 0.0, 1e308, -np.inf, 5e-324, 2.0 ** 62, 1.5]] + [[0.1 * k for k in range(8)]] * 3)
    for cells in (smooth, random_steps, edges, rates, wild, smooth[:1, :3]):
        for order in (None, 0, 1, 2):
            sealed = chunks.encode(cells, order)
            assert sealed.order == (order if order is not None else chunks.order_of(cells)) or not sealed.ratio
            back = chunks.decode(sealed)
            assert back.dtype == cells.dtype
            assert back.tobytes() == np.ascontiguousarray(cells).tobytes()
    assert chunks.encode(smooth, 2).nbytes < 0.9 * chunks.encode(smooth, 1).nbytes


def test_floats_that_are_no_ratios_keep_the_xor_codec() -> None:
    rng = np.random.default_rng(8)
    for cells in (rng.random((1024, BLOCK)) * 3.7, np.full((4, BLOCK), np.nan), np.zeros((4, BLOCK)),
                  np.array([[np.nan, -0.0, 0.0, 1e308, -np.inf, 5e-324, np.nan, 1.5]])):
        sealed = chunks.encode(cells)
        assert not sealed.ratio
        assert chunks.decode(sealed).tobytes() == cells.tobytes()


def test_narrow_head_slots_give_the_same_cells() -> None:
    rng = np.random.default_rng(9)
    rows = 50
    base = rng.integers(-(2 ** 62), 2 ** 62, rows)
    cells = np.empty((rows, BLOCK), dtype=np.int64)
    cells[:, 0] = base
    cells[:, 1] = base + rng.integers(-100, 100, rows)           # int8
    cells[:, 2] = base + rng.integers(-30_000, 30_000, rows)     # int16
    cells[:, 3] = base + rng.integers(-(2 ** 31) + 1, 2 ** 31, rows)  # int32
    cells[:, 4] = base + 2 ** 40                                 # too far: stays whole
    cells[:, 5] = (base.view(np.uint64) + np.uint64(2 ** 63 + 5)).view(np.int64)  # far, wrapping: whole
    cells[:, 6] = base
    cells[:, 7] = np.iinfo(np.int64).max
    cells[3, 1:4] = INT_MISSING
    cells[4, [0, 1, 2, 3, 6]] = INT_MISSING  # a row without a base cell and no cell in the slot either: narrow
    orphan = Plain.of(np.array([[INT_MISSING, 3] + [INT_MISSING] * (BLOCK - 2), [1, 2] + [INT_MISSING] * (BLOCK - 2)]),
                      int(INT_MISSING))
    orphan.narrow(1)  # one cell in two without a base cell: whole
    assert orphan.slots[1] is not None and orphan.slots[1].dtype == np.int64
    cells[20:23, 0] = INT_MISSING  # owners new in the block: their cells kept beside the narrow slots
    cells[21, 2] = INT_MISSING
    plain = Plain.of(cells, int(INT_MISSING))
    for position in range(BLOCK):
        plain.narrow(position)
    kinds = [None if c is None else c.dtype for c in plain.slots]
    # the block takes the line through slots 0 and 1 at slot 2 (a sample's spread): slot 6, equal to the base, is -6
    # slopes of up to 100 from the line
    assert kinds == [np.int64, np.int8, np.int16, np.int32, np.int64, np.int64, np.int16, np.int64]
    assert plain.extra[1][0].tolist() == [20, 21, 22] and plain.extra[2][0].tolist() == [20, 22]
    assert plain.nbytes < cells.nbytes * 0.7
    assert plain.matrix(rows).tobytes() == cells.tobytes()
    picked = np.array([0, 3, 4, 21, 22, 49])
    assert plain.take(picked, list(range(BLOCK))).tobytes() == cells[picked].tobytes()
    assert [[plain.cell(row, position) for position in range(BLOCK)] for row in range(rows)] == cells.tolist()
    assert all(plain.slot(position).tobytes() == cells[:, position].tobytes() for position in range(BLOCK))
    # rows cleared and grown, a merge into a narrow slot and into the base: the same cells as a plain matrix
    plain.clear_rows(np.array([7, 8, 22], dtype=np.int32))
    cells[[7, 8, 22]] = INT_MISSING
    plain.resize(rows + 10, rows)
    cells = np.vstack([cells, np.full((10, BLOCK), INT_MISSING, dtype=np.int64)])
    assert plain.matrix(rows + 10).tobytes() == cells.tobytes()
    plain.write(np.array([1, 55], dtype=np.int32), 2, np.array([11, 12]))
    cells[[1, 55], 2] = [11, 12]
    assert plain.matrix(rows + 10).tobytes() == cells.tobytes()
    plain.narrow(2)
    plain.write(np.array([0], dtype=np.int32), 0, np.array([-5]))
    cells[0, 0] = -5
    assert plain.matrix(rows + 10).tobytes() == cells.tobytes()
    floats = plain.as_float().matrix(rows + 10)
    assert np.array_equal(floats, np.where(cells == INT_MISSING, np.nan, cells.astype(np.float64)), equal_nan=True)


def test_head_slots_narrowed_by_the_line_by_a_shift_and_as_float_xors_give_the_same_cells() -> None:
    """Counters at steady rates narrow from the line through the first two slots, page-aligned steps shifted, a rate
    that stays zero as XORs of a byte; a restart and rows new in the block are kept beside; cells bit for bit."""
    rng = np.random.default_rng(11)
    rows = 400
    start = rng.integers(0, 2 ** 50, rows)
    rate = rng.integers(10 ** 8, 10 ** 10, rows)
    counter = start[:, None] + rate[:, None] * np.arange(BLOCK) + rng.integers(-5000, 5000, (rows, BLOCK))
    counter[7, 5:] = rng.integers(0, 100, 3)  # a restart: beside the slot
    counter[9, 0] = INT_MISSING  # a row new in the block
    counter[11, [1, 4]] = INT_MISSING  # a row without a second cell: its line is the base
    pages = (rng.integers(2 ** 20, 2 ** 30, rows)[:, None] + 4096 * rng.integers(-60, 60, (rows, BLOCK))) // 4096 * 4096
    floats = np.zeros((rows, BLOCK))
    floats[:3] = rng.random((3, BLOCK))  # a few rates that move: beside the slot
    floats[5, 2] = np.nan
    floats[6, 0] = np.nan
    floats[8] = -0.0
    for cells, kinds in ((counter, (np.int16, np.int32)), (pages, (np.int8,)), (floats, (np.int8,))):
        missing: float | int = float("nan") if cells.dtype.kind == "f" else int(INT_MISSING)
        plain = Plain.of(cells, missing)
        for position in range(1, BLOCK):
            plain.narrow(position)
        assert all(plain.slots[p] is not None and plain.slots[p].dtype in kinds for p in range(2, BLOCK))
        assert plain.nbytes < cells.nbytes * 0.6
        assert plain.matrix(rows).tobytes() == cells.tobytes()
        picked = np.array([0, 5, 6, 7, 9, 11, 399])
        assert plain.take(picked, list(range(BLOCK))).tobytes() == cells[picked].tobytes()
        assert np.array([[plain.cell(row, p) for p in range(BLOCK)] for row in range(rows)]).tobytes() == \
            cells.astype(np.float64 if cells.dtype.kind == "f" else np.int64).tobytes()
        plain.write(np.array([3], dtype=np.int32), 1, cells[3:4, 1] + (1 if cells.dtype.kind == "i" else 0.5))
        cells[3, 1] += 1 if cells.dtype.kind == "i" else 0.5  # the line's second point changes: the same cells after
        assert plain.matrix(rows).tobytes() == cells.tobytes()
    assert plain.coding == {} and all(s is None or s.dtype == np.float64 for s in plain.slots)


def test_a_narrow_base_keeps_its_values_and_survives_writes_into_the_second_slot() -> None:
    """An int block's base is kept as its values when they are small (a few large ones and rows without a cell beside
    it, page-aligned ones shifted); the other slots widen from it; a write into the second slot keeps it narrow, one
    into the base widens it; cells bit for bit throughout."""
    rng = np.random.default_rng(12)
    rows = 64
    cells = (rng.integers(0, 2 ** 14, rows) * 4096)[:, None] + 4096 * rng.integers(-3, 4, (rows, BLOCK))
    cells[5, 0] = 2 ** 50 + 4096  # too large for the base's type: beside it
    cells[6, 0] = INT_MISSING
    cells[7, :3] = INT_MISSING
    plain = Plain.of(cells, int(INT_MISSING))
    for position in range(BLOCK):
        plain.narrow(position)
    assert all(slot is not None and slot.dtype.itemsize < 8 for slot in plain.slots)
    assert plain.slots[0] is not None and plain.slots[0].dtype == np.int16 and plain.coding[0] == (False, 12, 0)
    assert plain.extra[0][0].tolist() == [5]
    assert plain.matrix(rows).tobytes() == cells.tobytes()
    picked = np.array([0, 5, 6, 7, 63])
    assert plain.take(picked, list(range(BLOCK))).tobytes() == cells[picked].tobytes()
    assert [[plain.cell(row, position) for position in range(BLOCK)] for row in range(rows)] == cells.tolist()
    assert all(plain.slot(position).tobytes() == cells[:, position].tobytes() for position in range(BLOCK))
    plain.write(np.array([2, 7], dtype=np.int32), 1, np.array([-1, 2 ** 40]))
    cells[[2, 7], 1] = [-1, 2 ** 40]
    assert plain.slots[0].dtype == np.int16 and all(plain.slots[p].dtype == np.int64 for p in range(1, BLOCK))
    assert plain.matrix(rows).tobytes() == cells.tobytes()
    for position in range(1, BLOCK):
        plain.narrow(position)
    assert plain.matrix(rows).tobytes() == cells.tobytes()
    plain.clear_rows(np.array([3], dtype=np.int32))
    cells[3] = INT_MISSING
    plain.resize(rows + 4, rows)
    cells = np.vstack([cells, np.full((4, BLOCK), INT_MISSING, dtype=np.int64)])
    assert plain.matrix(rows + 4).tobytes() == cells.tobytes()
    plain.write(np.array([0], dtype=np.int32), 0, np.array([2 ** 60]))
    cells[0, 0] = 2 ** 60
    assert all(slot.dtype == np.int64 for slot in plain.slots)
    assert plain.matrix(rows + 4).tobytes() == cells.tobytes()


def test_float_head_slots_of_moving_rates_are_kept_as_exact_ratios() -> None:
    """A rate that moves every window (a counter's step over whole seconds) is kept as its numerators to one
    denominator, its base too; cells that are no such ratio (another denominator, a sum, -0.0) beside; NaN missing;
    a slot of zeros as numerators of 1; cells bit for bit."""
    rng = np.random.default_rng(13)
    rows = 320
    rates = rng.integers(0, 30_000, (rows, BLOCK)) / 10
    rates[:4] = (127 * rng.integers(0, 200, (4, BLOCK)) + 1) / 127  # another denominator (no multiple of 10's): beside
    rates[4, 2] = 0.1 + 0.2  # a sum of rates: no exact ratio of a small denominator
    rates[5, 3] = -0.0
    rates[6, [0, 5]] = np.nan
    rates[7] = rng.integers(0, 2 ** 40, BLOCK) / 10  # numerators too large for int32: beside
    plain = Plain.of(rates, float("nan"))
    for position in range(BLOCK):
        plain.narrow(position)
    assert all(slot is not None and slot.dtype == np.int16 for slot in plain.slots)
    assert all(plain.coding[position][2] == 10 for position in range(BLOCK))
    assert plain.extra[3][0].tolist() == [0, 1, 2, 3, 5, 7]
    assert plain.matrix(rows).tobytes() == rates.tobytes()
    picked = np.array([0, 4, 5, 6, 7, 319])
    assert plain.take(picked, list(range(BLOCK))).tobytes() == rates[picked].tobytes()
    assert np.array([[plain.cell(row, p) for p in range(BLOCK)] for row in range(rows)]).tobytes() == rates.tobytes()
    zeros = np.zeros((rows, BLOCK))
    zeros[1, 1:] = 0.5  # a rate that moves in one row of many: the other slots are XORs of the base, a byte
    plain = Plain.of(zeros, float("nan"))
    for position in range(BLOCK):
        plain.narrow(position)
    assert plain.slots[0] is not None and plain.slots[0].dtype == np.int8 and plain.coding[0][2] == 1
    assert all(slot is not None and slot.dtype == np.int8 for slot in plain.slots)
    assert plain.matrix(rows).tobytes() == zeros.tobytes()


def test_a_sealed_block_is_the_chunks_of_its_whole_matrix() -> None:
    """A block is widened and encoded a part of its rows at a time when sealed: the same chunks, blob for blob, as
    its whole matrix gives."""
    from heapster.store.columns import SEAL_ROWS, Blocks, Column

    rows = SEAL_ROWS + 3000
    rng = np.random.default_rng(5)
    counter = rng.integers(0, 2 ** 40, rows)[:, None] + rng.integers(10 ** 6, 10 ** 7, rows)[:, None] * np.arange(BLOCK)
    counter[100, 3] = INT_MISSING
    for cells, is_float in ((counter, False), (np.round(counter / 7) / 10, True)):
        column = Column(is_float, MetricType.CUMULATIVE, Blocks(), None)  # type: ignore[arg-type]  # no presence read
        column.used = rows
        column.dense[0] = plain = Plain.of(cells, float("nan") if is_float else int(INT_MISSING))
        for position in range(BLOCK):
            plain.narrow(position)
        sealed = column.compressed(0)
        whole = chunks.encode_rows(plain.matrix(rows))
        assert sealed is not None and len(sealed) == len(whole) == -(-rows // chunks.ROW_GROUP)
        assert [bytes(c) for c in sealed] == [bytes(c) for c in whole]  # blobs, rows, orders and flags
        assert [(c.order, c.ratio, c.rows) for c in sealed] == [(c.order, c.ratio, c.rows) for c in whole]


def test_a_store_with_narrow_head_slots_answers_as_before() -> None:
    store = MetricStore(duration=3600)
    rng = np.random.default_rng(3)
    expected: dict[str, list[int]] = {}
    for minute in range(2 * BLOCK + 3):
        batch = synthetic_batch(at(minute), nodes=3, pods=2, containers=1, seq=minute)
        for key, metric_set in batch.metric_sets.items():
            value = int(rng.integers(0, 2 ** 40)) if minute % 5 == 0 else 1_000_000 * minute + int(rng.integers(0, 99))
            metric_set.values["custom/counter"] = MetricValue(value, MetricType.CUMULATIVE)
            expected.setdefault(key, []).append(value)
        store.ingest(batch)
    assert any(cells is not None and cells.dtype != np.int64
               for plain in store.columns["custom/counter"].dense.values() for cells in plain.slots)
    found = store.get_metric("custom/counter", list(expected))
    assert {key: [p.value for p in points] for key, points in found.items()} == expected
    assert store.latest_column("custom/counter") == {
        store.entities.get(key): values[-1] for key, values in expected.items()}


def test_metric_export_from_columns_is_byte_identical() -> None:
    store = MetricStore()
    for minute in range(BLOCK + 3):
        batch = synthetic_batch(at(minute), nodes=2, pods=3, containers=2, seq=minute,
                                namespaces=("default", "other"))
        batch.metric_sets["node:node-0"].values["cpu/usage_rate"] = MetricValue(minute / 3)
        batch.metric_sets["namespace:other/pod:pod-1-1/container:c0"].labels["container_base_image"] = "i<1>&"
        node = batch.metric_sets["node:node-1"]
        node.labeled += [LabeledMetric("filesystem/usage", {"resource_id": "logs"}, 7 + minute, G),
                         LabeledMetric("disk/io_read_bytes", {"resource_id": "sda"}, 100 * minute, C),
                         LabeledMetric("disk/io_read_bytes", {"resource_id": "sdb"}, 5, C)]
        if minute % 2:
            node.collection_start = None
            node.values["cpu/usage_rate"] = MetricValue(1e-7 * minute)
        store.ingest(batch)
        assert export.timeseries_json(store) == go_json(export.timeseries(store), pretty=False)
    assert b"\\u003c" in export.timeseries_json(store)
    assert export.timeseries_json(MetricStore()) == b"null\n"


def test_metric_export_writes_its_maps_with_sorted_keys_as_go() -> None:
    """A Timeseries' ``metrics`` and ``labels`` are Go maps, which encoding/json writes with their keys sorted: the
    export's bytes are the original's whatever order the batch gave its metrics and labels in (they came in the
    batch's order, e.g. ``{"pod_name":..,"container_name":"/pod"}``, ``"memory/usage"`` before ``"cpu/usage"``)."""
    store = MetricStore()
    store.ingest(DataBatch(at(0), {"namespace:ns/pod:p": MetricSet(
        {"type": "pod", "pod_name": "p", "namespace_name": "ns", "pod_id": "u", "labels": "a:b", "hostname": "h"},
        {"memory/usage": MetricValue(5), "cpu/usage": MetricValue(7, C), "cpu/limit": MetricValue(1)},
        [LabeledMetric("filesystem/usage", {"resource_id": "Volume:v"}, 3)])}))
    for body in (export.timeseries_json(store), go_json(export.timeseries(store), pretty=False)):
        document = json.loads(body)[0]
        assert list(document["metrics"]) == ["cpu/limit", "cpu/usage", "filesystem/usage", "memory/usage"]
        assert list(document["labels"]) == ["container_name", "hostname", "labels", "pod_id", "pod_name"]
        assert body.index(b'"container_name"') < body.index(b'"hostname"')


def test_repeated_keys_and_label_dicts_answer_as_new_ones() -> None:
    """A source reusing its entity table hands the same keys and label dicts every batch: the store reuses
    their ids, yet a changed label set, a changed series order and a new series answer as in fresh batches."""
    shared_root, shared_logs = {"resource_id": "/"}, {"resource_id": "logs"}

    def batch(minute: int, root: dict[str, str], first: str = "node:a") -> DataBatch:
        other = "node:b" if first == "node:a" else "node:a"
        sets = {key: MetricSet({"type": "node", "nodename": key}, {"memory/usage": MetricValue(minute)},
                               [LabeledMetric("filesystem/usage", root, 100 * minute + n),
                                LabeledMetric("filesystem/usage", shared_logs, 100 * minute + n + 50)])
                for n, key in enumerate((first, other))}
        return DataBatch(at(minute), sets)

    store = MetricStore()
    for minute in range(3):
        store.ingest(batch(minute, shared_root))
    store.ingest(batch(3, {"resource_id": "/", "device": "sda"}))  # a new label set on the same entities
    store.ingest(batch(4, shared_root, first="node:b"))  # the same series in another order
    store.ingest(batch(5, shared_root, first="node:b"))
    logs = store.get_labeled_metric("filesystem/usage", shared_logs, ["node:a", "node:b"])
    assert values(logs["node:a"]) == [50, 150, 250, 350, 451, 551]
    assert values(logs["node:b"]) == [51, 151, 251, 351, 450, 550]
    root = store.get_labeled_metric("filesystem/usage", shared_root, ["node:a", "node:b"])
    assert values(root["node:a"]) == [0, 100, 200, 401, 501]
    assert values(root["node:b"]) == [1, 101, 201, 400, 500]
    device = store.get_labeled_metric("filesystem/usage", {"resource_id": "/", "device": "sda"}, ["node:a"])
    assert values(device["node:a"]) == [300]
    assert values(store.get_metric("memory/usage", ["node:b"])["node:b"]) == list(range(6))


def test_repeated_keys_keep_label_changes_and_survive_expiry() -> None:
    """The same keys batch after batch, with a label change on the way and the entities expiring and coming
    back under other ids: every answer is that of fresh batches."""
    store = MetricStore(duration=120)
    keys = [f"node:n{i}" for i in range(5)]

    def batch(minute: int, keys: list[str], label: str = "x:1") -> DataBatch:
        return DataBatch(at(minute), {key: MetricSet({"type": "node", "labels": label},
                                                     {"m": MetricValue(minute * 10 + n)})
                                      for n, key in enumerate(keys)})

    store.ingest(batch(0, keys))
    store.ingest(batch(1, keys, label="x:2"))
    assert store.labels("node:n3") == {"type": "node", "labels": "x:2"}
    store.ingest(batch(2, ["node:other"]))
    store.ingest(batch(5, ["node:other", "node:more"]))  # the five nodes expire, their ids are free
    assert "node:n0" not in store
    store.ingest(batch(6, list(reversed(keys)), label="x:3"))
    store.ingest(batch(7, list(reversed(keys)), label="x:3"))
    assert values(store.get_metric("m", ["node:n0"])["node:n0"]) == [64, 74]
    assert "node:more" not in store and "node:other" not in store  # last seen at minute 5: 120 s before 7
    assert store.labels("node:n0") == {"type": "node", "labels": "x:3"}
    assert sorted(store.latest_keys()) == sorted(keys)


def test_a_late_batch_does_not_relabel_newer_sets() -> None:
    """A window that reaches the store after a newer one (its scrape ran into the deadline while the next window's
    finished) keeps its labels to itself: the newest batch's sets are answered with the newest labels."""
    store = MetricStore()

    def batch(minute: int, label: str, value: int) -> DataBatch:
        return DataBatch(at(minute), {"namespace:ns/pod:p": MetricSet(
            {"type": "pod", "namespace_name": "ns", "pod_name": "p", "labels": label}, {"m": MetricValue(value)})})

    store.ingest(batch(2, "version:2", 2))
    store.ingest(batch(1, "version:1", 1))  # late
    assert store.latest_timestamp == at(2)
    assert store.labels("namespace:ns/pod:p") == {"type": "pod", "namespace_name": "ns", "pod_name": "p",
                                                  "labels": "version:2"}
    latest = store.latest_sets()["namespace:ns/pod:p"]
    assert (latest.labels["labels"], latest.values["m"][0]) == ("version:2", 2)
    assert [labels["labels"] for _, labels in store.latest_of_type("pod")] == ["version:2"]
    assert values(store.get_metric("m", ["namespace:ns/pod:p"])["namespace:ns/pod:p"]) == [1, 2]
    store.ingest(batch(2, "version:3", 2))  # the newest window again (merged into its slot): its labels count
    assert store.labels("namespace:ns/pod:p")["labels"] == "version:3"


def test_latest_of_type_answers_as_latest_entities_filtered() -> None:
    """The per-type list (kept per batch, dicts reused while labels stay) equals the newest batch's entities
    of that type, through type and label changes, merged and older batches, expiry and reused ids."""
    store = MetricStore(duration=120)

    def check() -> None:
        for kind in ("node", "pod", "pod_container", "absent", ""):
            expected = [(key, labels) for key, labels in store.latest_entities() if labels.get("type", "") == kind]
            assert store.latest_of_type(kind) == expected

    def sets(minute: int, names: list[str], kind: str = "pod", label: str = "x:1") -> dict[str, MetricSet]:
        return {f"namespace:ns/pod:{name}": MetricSet({"type": kind, "pod_name": name, "labels": label},
                                                      {"m": MetricValue(minute)}) for name in names}

    check()
    store.ingest(DataBatch(at(0), {**sets(0, ["a", "b", "c"]), "node:n": MetricSet({"type": "node"}, {})}))
    check()
    store.ingest(DataBatch(at(1), sets(1, ["a", "b"], label="x:2")))  # labels change, c and the node are gone
    check()
    assert [labels["labels"] for _, labels in store.latest_of_type("pod")] == ["x:2", "x:2"]
    store.ingest(DataBatch(at(2), {**sets(2, ["a"]), **sets(2, ["b"], kind="pod_container")}))  # b's type changes
    check()
    assert [key for key, _ in store.latest_of_type("pod_container")] == ["namespace:ns/pod:b"]
    store.ingest(DataBatch(at(2), {"node:m": MetricSet({}, {"m": MetricValue(1)})}))  # merged into the newest
    check()
    store.ingest(DataBatch(at(1), sets(1, ["z"])))  # an older batch: the newest one's lists stay
    check()
    store.ingest(DataBatch(at(6), sets(6, ["d", "e"])))  # everything else expires, ids are reused
    check()
    store.ingest(DataBatch(at(7), {**sets(7, ["d"]), **sets(7, ["f"], kind="node")}))
    check()
    assert [key for key, _ in store.latest_of_type("node")] == ["namespace:ns/pod:f"]


def test_label_dicts_seen_before_in_another_order_are_not_hashed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A source reuses its label dicts while nodes come in a new order each batch: the known dicts cost a look-up
    by object, an equal dict of another object is hashed, and each (entity, labels) keeps its series."""
    store = MetricStore()
    disks = [{"resource_id": f"/dev/d{n}"} for n in range(6)]
    entities = np.arange(6, dtype=np.int32)

    def series_ids(order: list[int], labels: list[dict[str, str]]) -> list[int]:
        steps = store._find_series(entities[order], [labels[n] for n in order])
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return list(done.value)

    first = series_ids(list(range(6)), disks)
    hashed: list[object] = []
    label_code = store._label_code
    monkeypatch.setattr(store, "_label_code", lambda labels: (hashed.append(labels), label_code(labels))[1])
    order = [5, 3, 1, 0, 2, 4]
    assert series_ids(order, disks) == [first[n] for n in order]
    assert hashed == []
    copied = [*disks[:4], dict(disks[4]), disks[5]]
    assert series_ids(order, copied) == [first[n] for n in order]
    assert hashed == [copied[4]] and hashed[0] is not disks[4]
    assert len(store.series) == 6


def test_the_store_keeps_the_label_dict_it_was_given_and_answers_copies() -> None:
    """Label sets are shared and read-only: the store holds the batch's own dict (no copy of its own) while the
    labels stay equal, takes a changed set at its commit, and hands callers copies they may change."""
    def batch(minute: int, nodename: str) -> DataBatch:
        return DataBatch(at(minute), {"node:a": MetricSet({"type": "node", "nodename": nodename},
                                                          {"m": MetricValue(minute)})})

    store = MetricStore()
    first = batch(0, "a")
    given = first.columns.labels[0]
    store.ingest(first)
    eid = store.entities.get("node:a")
    assert eid is not None and store.entities.labels[eid] is given
    store.ingest(batch(1, "a"))  # equal labels in another dict
    assert store.entities.labels[eid] is given
    answer = store.labels("node:a")
    assert answer == given and answer is not given
    assert answer is not None
    answer["nodename"] = "changed"
    assert store.labels("node:a") == {"type": "node", "nodename": "a"}
    second = batch(2, "b")
    changed = second.columns.labels[0]
    store.ingest(second)
    assert store.entities.labels[eid] is changed
    assert store.latest_entities() == [("node:a", {"type": "node", "nodename": "b"})]


def test_a_series_twice_in_one_new_batch_is_one_series() -> None:
    """Series are found through the series index only: two equal label sets of one entity in a batch (another
    dict each) make one series, as before, and later batches find it."""
    def batch(minute: int) -> DataBatch:
        return DataBatch(at(minute), {"node:a": MetricSet({"type": "node"}, {}, [
            LabeledMetric("filesystem/usage", {"resource_id": "/", "device": "sda"}, minute),
            LabeledMetric("filesystem/available", {"device": "sda", "resource_id": "/"}, 10 + minute)])})

    store = MetricStore()
    store.ingest(batch(0))
    store.ingest(batch(1))
    assert len(store.series) == 1
    wanted = {"resource_id": "/", "device": "sda"}
    assert values(store.get_labeled_metric("filesystem/usage", wanted, ["node:a"])["node:a"]) == [0, 1]
    assert values(store.get_labeled_metric("filesystem/available", wanted, ["node:a"])["node:a"]) == [10, 11]
    assert store.get_labeled_metric("filesystem/usage", {"resource_id": "/"}, ["node:a"]) == {}


def test_sorted_unique_is_np_unique() -> None:
    rng = np.random.default_rng(7)
    cases = [np.empty(0, dtype=np.int32), np.array([5], dtype=np.int32), np.array([3, 3, 3], dtype=np.int32),
             rng.integers(0, 50, 1000).astype(np.int32), rng.permutation(100_000).astype(np.int32)]
    for ids in cases:
        found = sorted_unique(ids)
        assert found.dtype == ids.dtype
        assert found.tolist() == np.unique(ids).tolist()


def _answers(store: MetricStore, keys: list[str]) -> tuple[object, ...]:
    """What queries tell of ``keys``: the newest batch, every metric's points and a labeled series."""
    return (store.latest_timestamp, sorted(store.latest_keys()), {key: store.labels(key) for key in keys},
            {name: store.get_metric(name, keys) for name in sorted(store.columns)},
            store.get_labeled_metric("filesystem/usage", {"resource_id": "/"}, keys),
            {key: (found.labels, found.values, sorted(map(repr, found.labeled)))
             for key, found in store.latest_sets().items()})


def test_a_prepared_store_shows_nothing_of_the_batch_and_then_answers_as_an_unprepared_one() -> None:
    priming = DataBatch(at(0), {"node:a": node_set(0), "node:gone": node_set(1)})
    plain, prepared = MetricStore(), MetricStore()
    prepared.prepare(priming)
    assert prepared.latest_timestamp is None
    assert prepared.latest_keys() == [] and prepared.latest_sets() == {}
    assert prepared.get_metric("cpu/usage_rate", ["node:a", "node:gone"]) == {}
    assert prepared.metric_names("node:a") == []
    keys = ["node:a", "node:b", "node:gone"]
    for minute in (1, 2, 3):
        batch = DataBatch(at(minute), {"node:a": node_set(minute), "node:b": node_set(minute + 5)})
        plain.ingest(batch)
        prepared.ingest(batch)
        assert _answers(prepared, keys) == _answers(plain, keys)
    assert "node:gone" not in prepared  # only in the priming batch: expired with the first commit


def test_the_first_write_after_prepare_registers_no_owner_and_allocates_no_row(
        monkeypatch: pytest.MonkeyPatch) -> None:
    store = MetricStore()
    store.prepare(synthetic_batch(at(0), nodes=3, seq=0))
    calls: list[str] = []
    for owners in (store.entities, store.series):
        add = owners.add
        monkeypatch.setattr(owners, "add", lambda *args, _add=add, **kw: calls.append("add") or _add(*args, **kw))
    allocate = store_memory.Column._allocate
    monkeypatch.setattr(store_memory.Column, "_allocate",
                        lambda self, owners: calls.append("allocate") or allocate(self, owners))
    store.ingest(synthetic_batch(at(1), nodes=3, seq=1))
    assert calls == []
    assert len(store.latest_keys()) == len(synthetic_batch(at(1), nodes=3).columns)
