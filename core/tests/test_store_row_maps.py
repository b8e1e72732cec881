"""Columns written for the same owners share one pair of row maps, copied before one of them changes."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from heapster.model import DataBatch, MetricSet, MetricValue
from heapster.store import MetricStore
from heapster.store.columns import RowLookups

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def pod(name: str, minute: int, *, with_memory: bool = True) -> MetricSet:
    values = {"cpu/usage_rate": MetricValue(minute), "network/rx_rate": MetricValue(minute * 2)}
    if with_memory:
        values["memory/usage"] = MetricValue(minute * 3)
    return MetricSet({"type": "pod", "namespace_name": "ns", "pod_name": name}, values)


def window(minute: int, names: list[str], without_memory: tuple[str, ...] = ()) -> DataBatch:
    return DataBatch(T0 + timedelta(minutes=minute),
                     {f"namespace:ns/pod:{name}": pod(name, minute, with_memory=name not in without_memory)
                      for name in names})


def history(store: MetricStore, name: str, keys: list[str]) -> dict[str, list[int | float]]:
    return {key: [p.value for p in points] for key, points in store.get_metric(name, keys).items()}


def test_columns_of_the_same_owners_hold_one_pair_of_row_maps() -> None:
    store = MetricStore(duration=600)
    store.ingest(window(0, ["a", "b", "c"]))
    cpu, rx, memory = (store.columns[name] for name in ("cpu/usage_rate", "network/rx_rate", "memory/usage"))
    assert cpu.row_of is rx.row_of is memory.row_of
    assert cpu.owner_of is rx.owner_of is memory.owner_of


def test_a_column_given_another_owner_copies_the_shared_maps_and_the_others_keep_theirs() -> None:
    store = MetricStore(duration=600)
    store.ingest(window(0, ["a", "b"]))
    cpu, memory = store.columns["cpu/usage_rate"], store.columns["memory/usage"]
    shared_rows = cpu.row_of.copy(), cpu.owner_of.copy()
    # Pod c has no memory value: cpu and rx get a row for it, memory does not.
    store.ingest(window(1, ["a", "b", "c"], without_memory=("c",)))
    assert memory.row_of is not cpu.row_of
    assert memory.owner_of.tolist() == shared_rows[1].tolist()
    assert (memory.row_of[: len(shared_rows[0])] == shared_rows[0]).all()
    assert cpu.row_of is store.columns["network/rx_rate"].row_of  # equal again after the write: shared again
    keys = ["namespace:ns/pod:a", "namespace:ns/pod:b", "namespace:ns/pod:c"]
    assert history(store, "cpu/usage_rate", keys) == {keys[0]: [0, 1], keys[1]: [0, 1], keys[2]: [1]}
    assert history(store, "memory/usage", keys) == {keys[0]: [0, 3], keys[1]: [0, 3]}
    # c gets memory too: the maps are equal again and shared again.
    store.ingest(window(2, ["a", "b", "c"]))
    assert memory.row_of is cpu.row_of
    assert history(store, "memory/usage", keys) == {keys[0]: [0, 3, 6], keys[1]: [0, 3, 6], keys[2]: [6]}


def test_expired_owners_leave_every_sharing_column_right() -> None:
    store = MetricStore(duration=120)
    store.ingest(window(0, ["a", "b", "c"]))
    for minute in range(1, 5):
        store.ingest(window(minute, ["a", "c", f"n{minute}"]))  # b expires; a new pod each minute reuses rows
    keys = ["namespace:ns/pod:a", "namespace:ns/pod:b", "namespace:ns/pod:n4", "namespace:ns/pod:n1"]
    for name, factor in (("cpu/usage_rate", 1), ("network/rx_rate", 2), ("memory/usage", 3)):
        assert history(store, name, keys) == {keys[0]: [factor * m for m in (3, 4)], keys[2]: [factor * 4]}
    # The expiry at the last commit gave each column a copy of its own; the next write shares them again.
    columns = list(store.columns.values())
    assert all((column.row_of == columns[0].row_of).all() for column in columns)
    for minute in (5, 6, 7):  # n2 to n4 expire at the commits of 5 and 6, nothing at 7
        store.ingest(window(minute, ["a", "c"]))
    assert all(column.row_of is columns[0].row_of and column.owner_of is columns[0].owner_of for column in columns)
    assert history(store, "memory/usage", keys) == {keys[0]: [18, 21]}


def test_columns_sharing_maps_and_presence_share_one_row_look_up_and_stay_right() -> None:
    store = MetricStore(duration=600)
    store.ingest(window(0, ["a", "b", "c"]))
    looked_up: list[int] = []
    lookups = RowLookups.get

    def counted(self: RowLookups, row_of: object, owners: object) -> object:
        found = lookups(self, row_of, owners)  # type: ignore[arg-type]
        looked_up.append(found is not None)
        return found

    RowLookups.get = counted  # type: ignore[assignment,method-assign]
    try:
        store.ingest(window(1, ["a", "b", "c"], without_memory=("b",)))
    finally:
        RowLookups.get = lookups  # type: ignore[method-assign]
    # cpu and rx: one owners array, one map: the second column reuses the rows; memory has other owners.
    assert looked_up.count(True) == 1
    keys = ["namespace:ns/pod:a", "namespace:ns/pod:b", "namespace:ns/pod:c"]
    assert history(store, "network/rx_rate", keys) == {key: [0, 2] for key in keys}
    assert history(store, "memory/usage", keys) == {keys[0]: [0, 3], keys[1]: [0], keys[2]: [0, 3]}


def test_a_constant_float_column_keeps_each_cells_bits() -> None:
    def limits(minute: int, value: float) -> DataBatch:
        return DataBatch(T0 + timedelta(minutes=minute), {"node:n": MetricSet(
            {"type": "node", "nodename": "n"}, {"cpu/limit": MetricValue(value), "memory/limit": MetricValue(7.5)})})

    store = MetricStore(duration=600)
    for minute, value in enumerate((0.0, 0.0, -0.0, -0.0)):
        store.ingest(limits(minute, value))
    assert store.columns["memory/limit"].is_constant
    got = history(store, "cpu/limit", ["node:n"])["node:n"]
    # Equal values keep a column constant, and its one cell per row takes the newest bits: -0.0 for every window.
    assert [math.copysign(1.0, value) for value in got] == [-1.0] * 4


def test_a_constant_column_sharing_maps_turns_dense_when_a_present_owner_lacks_its_value() -> None:
    def limits(minute: int, without: tuple[str, ...] = ()) -> DataBatch:
        return DataBatch(T0 + timedelta(minutes=minute), {
            f"namespace:ns/pod:{name}": MetricSet({"type": "pod", "namespace_name": "ns", "pod_name": name}, {
                "cpu/limit": MetricValue(100), **({} if name in without else {"memory/limit": MetricValue(200)})})
            for name in ("a", "b", "c")})

    store = MetricStore(duration=600)
    store.ingest(limits(0))
    store.ingest(limits(1))
    cpu, memory = store.columns["cpu/limit"], store.columns["memory/limit"]
    assert cpu.row_of is memory.row_of and cpu.is_constant and memory.is_constant
    store.ingest(limits(2, without=("b",)))
    assert cpu.is_constant and not memory.is_constant
    keys = ["namespace:ns/pod:a", "namespace:ns/pod:b", "namespace:ns/pod:c"]
    assert history(store, "memory/limit", keys) == {keys[0]: [200] * 3, keys[1]: [200] * 2, keys[2]: [200] * 3}
    assert history(store, "cpu/limit", keys) == {key: [100] * 3 for key in keys}
