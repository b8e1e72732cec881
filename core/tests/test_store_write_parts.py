"""A column of many cells is written in parts, with the store's lock free between them: the same store as one
write per column, and queries between the parts see the windows before the batch, whole."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricValue
from heapster.store import MetricStore
from heapster.store import memory as store_memory
from heapster.store.columns import BLOCK, Column

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
WINDOWS = 2 * BLOCK + 3
NODES = 13


def at(window: int) -> datetime:
    return T0 + timedelta(minutes=window)


def node_set(window: int, n: int) -> MetricSet:
    """Node ``n`` in ``window``: constant columns, one turning dense in the middle of a part, one new to an
    entity the store held already, an int column turning float, varying and constant labeled series."""
    values: dict[str, MetricValue] = {
        "cpu/limit": MetricValue(4000),  # constant for ever
        "cpu/request": MetricValue(6 if n == 7 and window >= 5 else 5),  # dense at window 5, in the third part
        "cpu/usage_rate": MetricValue(window * 100 + n),
        "memory/working_set": MetricValue(window + n / 4 if window >= 6 else window + n),  # floats from window 6
    }
    if n != 12 or window >= 4:
        values["memory/limit"] = MetricValue(1 << 30)  # node n12 (there from the start) gets it at window 4
    labeled = [LabeledMetric("filesystem/usage", {"resource_id": "/"}, 7),
               LabeledMetric("filesystem/usage", {"resource_id": "/var"}, window if n % 2 else 9),
               LabeledMetric("filesystem/limit", {"resource_id": "/"}, 100 + n)]
    return MetricSet({"type": "node", "nodename": f"n{n}"}, values, labeled)


def batch(window: int) -> DataBatch:
    """Nodes n10 and n11 come at window 3, n3 misses window 6."""
    nodes = [n for n in range(NODES) if (n < 10 or n == 12 or window >= 3) and not (n == 3 and window == 6)]
    return DataBatch(at(window), {f"node:n{n}": node_set(window, n) for n in nodes})


def written(step_cells: int, monkeypatch: pytest.MonkeyPatch) -> MetricStore:
    monkeypatch.setattr(store_memory, "STEP_CELLS", step_cells)
    store = MetricStore(duration=WINDOWS * 60)
    for window in range(WINDOWS):
        store.ingest(batch(window))
    return store


def state(store: MetricStore) -> dict[str, object]:
    """Every answer and the columns' rows, constants and cells, comparable with ``==``."""
    keys = [f"node:n{n}" for n in range(NODES)]
    found: dict[str, object] = {}
    for name in store.columns:
        found[name] = store.get_metric(name, keys)
    for name in store.labeled_columns:
        for resource in ("/", "/var"):
            found[f"{name}{resource}"] = store.get_labeled_metric(name, {"resource_id": resource}, keys)
    found["latest"] = {key: (s.labels, s.values, s.labeled) for key, s in store.latest_sets().items()}
    for name, column in [*store.columns.items(), *store.labeled_columns.items()]:
        found[f"{name} rows"] = (column.is_float, column.row_of.tolist(), column.owner_of.tolist(), column.used,
                                 None if column.const is None else column.const.astype(str).tolist())
        found[f"{name} cells"] = [column.slot_cells(slot).astype(str).tolist() for slot in store._order]
    return found


def test_a_column_written_in_parts_is_the_column_written_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    at_once = state(written(20_000, monkeypatch))
    in_parts = written(3, monkeypatch)
    assert state(in_parts) == at_once
    # The cases the parts must get right did happen: a constant column stayed constant, one turned dense in its
    # third part, one had a new row for an entity held before (dense at once), one turned float.
    assert in_parts.columns["cpu/limit"].is_constant
    assert not in_parts.columns["cpu/request"].is_constant
    assert not in_parts.columns["memory/limit"].is_constant
    assert in_parts.columns["memory/working_set"].is_float
    assert in_parts.labeled_columns["filesystem/limit"].is_constant
    request = in_parts.get_metric("cpu/request", ["node:n7", "node:n8"])
    assert [p.value for p in request["node:n7"]] == [5] * 5 + [6] * (WINDOWS - 5)
    assert [p.value for p in request["node:n8"]] == [5] * WINDOWS


def test_queries_run_between_the_parts_of_a_column_and_see_the_windows_before(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_memory, "STEP_CELLS", 4)
    store = MetricStore(duration=WINDOWS * 60)
    store.ingest(batch(0))
    log: list[str] = []
    put = Column._put

    def logged_put(column: Column, rows: np.ndarray, fresh: np.ndarray, values: np.ndarray, slot: int) -> None:
        log.append(f"write {len(rows)}")
        put(column, rows, fresh, values, slot)

    def query_from_another_thread() -> None:
        answers: list[object] = []
        thread = threading.Thread(target=lambda: answers.append(store.get_metric("cpu/usage_rate", ["node:n9"])))
        thread.start()
        thread.join(10)
        values = [p.value for p in answers[0]["node:n9"]] if answers else None  # type: ignore[index]
        log.append(f"query {values}")

    monkeypatch.setattr(Column, "_put", logged_put)  # every write's cells, a part at a time
    store.between_steps = query_from_another_thread
    store.ingest(batch(1))
    # 11 nodes of cpu/limit (the first column) in parts of 4 cells, each in a step of its own, a query between.
    first = log.index("write 4")
    assert log[first:first + 5] == ["write 4", "query [9]", "write 4", "query [9]", "write 3"]
    # Until the commit every query sees the window before; after it (the steps that narrow the slot) the new one.
    last_write = max(at for at, entry in enumerate(log) if entry.startswith("write"))
    assert all(entry == "query [9]" for entry in log[:last_write] if entry.startswith("query"))
    assert all(entry in ("query [9]", "query [9, 109]") for entry in log if entry.startswith("query"))
    seen_new = [at for at, entry in enumerate(log) if entry == "query [9, 109]"]
    assert not seen_new or log[seen_new[0]:] == ["query [9, 109]"] * (len(log) - seen_new[0])
    assert [p.value for p in store.get_metric("cpu/usage_rate", ["node:n9"])["node:n9"]] == [9, 109]
