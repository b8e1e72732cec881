"""The metric store read from other threads while batches are written: every answer sees a window whole or not
at all, and no query waits for a block's compression."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricValue
from heapster.store import MetricStore
from heapster.store import memory as store_memory
from heapster.store.columns import BLOCK, Column

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
WINDOWS = 4 * BLOCK
"""Enough windows that blocks are sealed and, with the store's 5 windows of retention, expire."""
RETENTION = 5


def at(window: int) -> datetime:
    return T0 + timedelta(minutes=window)


def nodes_in(window: int) -> int:
    """Each window holds its own number of nodes, so a half-registered window would show in a count."""
    return 3 + window % 4


def batch(window: int) -> DataBatch:
    """Every value of window ``w`` is ``w`` (or derived from it): a mix of windows in one answer shows."""
    sets = {}
    for n in range(nodes_in(window)):
        sets[f"node:n{n}"] = MetricSet(
            {"type": "node", "nodename": f"n{n}", "window": str(window)},
            {"cpu/usage_rate": MetricValue(window), "memory/usage": MetricValue(1000 + window),
             "cpu/request": MetricValue(5)},  # constant column: one value per row
            [LabeledMetric("filesystem/usage", {"resource_id": "/"}, 100 + window)])
    return DataBatch(at(window), sets)


def new_store() -> MetricStore:
    return MetricStore(duration=(RETENTION - 0.5) * 60)


def window_of(stamp: datetime) -> int:
    return round((stamp - T0).total_seconds() / 60)


def check_answer(store: MetricStore) -> bool:
    """One consistent read of the newest window and the history; False while the store is empty."""
    with store.reading():
        stamp = store.latest_timestamp
        if stamp is None:
            return False
        newest = window_of(stamp)
        keys = sorted(store.latest_keys())
        assert len(keys) == nodes_in(newest), (newest, keys)
        assert store.latest_size == len(keys)
        for key in keys:
            assert store.latest_value(key, "cpu/usage_rate") == newest
            assert store.labels(key) == {"type": "node", "nodename": key[5:], "window": str(newest)}
        for key, found in store.latest_sets().items():
            assert found.values["memory/usage"][0] == 1000 + newest, key
            assert [(name, value) for name, _, value, _ in found.labeled] == [("filesystem/usage", 100 + newest)]
        history = store.get_metric("cpu/usage_rate", ["node:n0", "node:n1", "node:n2"])
        constant = store.get_metric("cpu/request", ["node:n0"])
        labeled = store.get_labeled_metric("filesystem/usage", {"resource_id": "/"}, ["node:n0"])
    windows = [window_of(p.timestamp) for p in history["node:n0"]]
    # The retained windows, oldest first, each there whole: n0..n2 are in every batch.
    assert windows == list(range(windows[0], newest + 1)), windows
    assert newest - windows[0] < RETENTION
    for points in history.values():
        assert [p.value for p in points] == windows
    assert [p.value for p in constant["node:n0"]] == [5] * len(windows)
    assert [p.value - 100 for p in labeled["node:n0"]] == windows
    return True


@pytest.fixture
def tight_switching() -> Iterator[None]:
    """Switch threads as often as the interpreter allows, so reads land between every two write steps."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_readers_in_other_threads_see_each_window_whole_or_not_at_all(
        monkeypatch: pytest.MonkeyPatch, tight_switching: None) -> None:
    monkeypatch.setattr(store_memory, "CHUNK", 2)  # many steps per write
    monkeypatch.setattr(store_memory, "SERIES_PART", 1)  # each labeled series looked up in a step of its own
    monkeypatch.setattr(store_memory, "STEP_CPU", 0.0)
    store = new_store()
    done = threading.Event()
    answers = [0, 0]
    failures: list[BaseException] = []

    def reader(index: int) -> None:
        try:
            while not done.is_set():
                if check_answer(store):
                    answers[index] += 1
        except BaseException as exc:  # reported by the test's thread
            failures.append(exc)
            done.set()

    readers = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
    for thread in readers:
        thread.start()
    try:
        for window in range(WINDOWS):
            if done.is_set():
                break
            store.ingest(batch(window))
    finally:
        done.set()
        for thread in readers:
            thread.join(30)
    if failures:
        raise failures[0]
    assert all(answers), answers  # both readers answered while the windows went in
    assert check_answer(store) and store.latest_timestamp == at(WINDOWS - 1)


async def test_export_writes_in_a_worker_thread_and_readers_on_the_loop_see_whole_windows(
        tight_switching: None) -> None:
    store = new_store()
    writer_threads: set[str] = set()
    ingest = store.ingest

    def recording(written: DataBatch) -> None:
        writer_threads.add(threading.current_thread().name)
        ingest(written)

    store.ingest = recording  # type: ignore[method-assign]
    for window in range(WINDOWS):
        await store.export(batch(window))
        assert check_answer(store)
    assert threading.current_thread().name not in writer_threads


def test_queries_answer_while_a_block_is_compressed(monkeypatch: pytest.MonkeyPatch) -> None:
    store = new_store()
    compressing = []
    compressed = Column.compressed

    def query_from_another_thread(column: Column, block: int) -> object:
        answered = threading.Event()
        thread = threading.Thread(target=lambda: (store.latest_keys(), answered.set()))
        thread.start()
        thread.join(10)
        compressing.append(answered.is_set())  # a query waiting on the lock would not have answered
        return compressed(column, block)

    monkeypatch.setattr(Column, "compressed", query_from_another_thread)
    for window in range(BLOCK + 2):
        store.ingest(batch(window))
    assert compressing and all(compressing)
    assert check_answer(store)


def test_new_labeled_series_are_registered_in_steps_with_the_lock_free_in_between(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_memory, "SERIES_PART", 2)
    monkeypatch.setattr(store_memory, "STEP_CPU", 0.0)  # a step per part

    def disks(window: int, device: str) -> DataBatch:
        """10 nodes, each with a disk of its own (10 series new to the store)."""
        return DataBatch(at(window), {
            f"node:n{n}": MetricSet({"type": "node", "nodename": f"n{n}"}, {"cpu/usage_rate": MetricValue(n)},
                                    [LabeledMetric("filesystem/usage", {"resource_id": f"/dev/{device}{n}"}, n)])
            for n in range(10)})

    store = new_store()
    free_between_steps: list[bool] = []

    def query_from_another_thread() -> None:
        answered = threading.Event()
        thread = threading.Thread(target=lambda: (store.latest_keys(), answered.set()))
        thread.start()
        thread.join(10)
        free_between_steps.append(answered.is_set())

    store.between_steps = query_from_another_thread
    store.ingest(disks(0, "d"))
    steps_with_ten_new_series = len(free_between_steps)
    assert all(free_between_steps)
    free_between_steps.clear()
    monkeypatch.setattr(store_memory, "SERIES_PART", 1000)
    store.ingest(disks(1, "e"))
    # 10 new label sets and 10 new series, 2 per part and step: 4 more steps each than in one part; the second
    # write also clears its new slot's presence bits of the entities and the series known by then (a step each).
    assert steps_with_ten_new_series - (len(free_between_steps) - 2) == 8
    history = store.get_labeled_metric("filesystem/usage", {"resource_id": "/dev/d3"}, ["node:n3"])
    assert [p.value for p in history["node:n3"]] == [3]


def _tiny_label_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """A label cache of 4 codes, look-ups in parts of 3 and a step after each: codes start afresh often."""
    monkeypatch.setattr(store_memory, "LABEL_CACHE_SIZE", 4)
    monkeypatch.setattr(store_memory, "SERIES_PART", 3)
    monkeypatch.setattr(store_memory, "STEP_CPU", 0.0)


def volumes(window: int, name: str) -> DataBatch:
    """Ten pods, each with one volume ``<name>-<n>`` whose usage is ``window * 100 + n``."""
    return DataBatch(at(window), {
        f"pod:ns/p{n}": MetricSet({"type": "pod", "namespace_name": "ns", "pod_name": f"p{n}"},
                                  {"cpu/usage_rate": MetricValue(n)},
                                  [LabeledMetric("filesystem/usage", {"resource_id": f"{name}-{n}"},
                                                 window * 100 + n)])
        for n in range(10)})


def test_a_batch_with_more_label_sets_than_the_label_cache_keeps_every_series_its_own(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The label codes are never started afresh in the middle of a batch's look-ups (a code handed out before
    the reset would name another volume's labels): 5000 nodes' volumes are more than the cache's 100,000."""
    _tiny_label_cache(monkeypatch)

    store = new_store()
    for window, name in enumerate(["token", "token", "cache", "token"]):  # volumes that come, go and return
        store.ingest(volumes(window, name))
    for n in range(10):
        token = store.get_labeled_metric("filesystem/usage", {"resource_id": f"token-{n}"}, [f"pod:ns/p{n}"])
        cache = store.get_labeled_metric("filesystem/usage", {"resource_id": f"cache-{n}"}, [f"pod:ns/p{n}"])
        assert [p.value for p in token[f"pod:ns/p{n}"]] == [n, 100 + n, 300 + n]
        assert [p.value for p in cache[f"pod:ns/p{n}"]] == [200 + n]


def test_label_codes_started_afresh_in_steps_keep_every_answer_between_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the label codes start afresh, the live series get new codes and a new index in steps (the lock free
    in between): a query between those steps still finds every series, through the old codes and index."""
    _tiny_label_cache(monkeypatch)

    def answers() -> list[tuple[list[float], list[float]]]:
        found = []
        for n in range(10):
            key = f"pod:ns/p{n}"
            token = store.get_labeled_metric("filesystem/usage", {"resource_id": f"token-{n}"}, [key])
            cache = store.get_labeled_metric("filesystem/usage", {"resource_id": f"cache-{n}"}, [key])
            found.append(([p.value for p in token.get(key, [])], [p.value for p in cache.get(key, [])]))
        return found

    store = new_store()
    for window, name in enumerate(["token", "token", "cache"]):
        store.ingest(volumes(window, name))
    restarts = []
    indexed = store._index_live_series

    def index_live_series() -> Iterator[None]:
        restarts.append(True)
        yield from indexed()

    monkeypatch.setattr(store, "_index_live_series", index_live_series)
    between: list[list[tuple[list[float], list[float]]]] = []

    def query_from_another_thread() -> None:
        thread = threading.Thread(target=lambda: between.append(answers()))
        thread.start()
        thread.join(10)

    before = answers()
    assert before == [([n, 100 + n], [200 + n]) for n in range(10)]
    store.between_steps = query_from_another_thread
    store.ingest(volumes(3, "token"))  # 20 label codes: started afresh before this batch's look-ups
    assert restarts and len(between) > 4
    after = [([n, 100 + n, 300 + n], [200 + n]) for n in range(10)]
    assert answers() == after
    # Before the commit the windows before; after it (the steps that narrow the new slot) the new window.
    committed = next((at for at, found in enumerate(between) if found != before), len(between))
    assert committed > 4
    assert all(found == after for found in between[committed:])
