"""The store's lock: a query waiting for it goes before the writer's next step."""

from __future__ import annotations

import threading

from heapster.store import MetricStore
from heapster.store.lock import StoreLock
from heapster.testing.net import wait_until


def test_a_waiting_query_goes_before_the_writers_next_step() -> None:
    """A plain lock lets the writer that just released it take it again at once (the waiting thread must first
    be woken): a query then waited through many steps in a row. Here it gets the lock first."""
    lock = StoreLock()
    order: list[str] = []

    def query() -> None:
        with lock, lock:  # re-entrant, as the store's queries nest
            order.append("query")

    reader = threading.Thread(target=query)
    with lock.step():
        reader.start()
        wait_until(lambda: lock._waiting == 1, what="the query waiting for the lock")
        order.append("first step")
    with lock.step():
        order.append("next step")
    reader.join()
    assert order == ["first step", "query", "next step"]


def test_without_a_waiting_query_the_writer_does_not_wait() -> None:
    lock = StoreLock()
    for _ in range(3):
        with lock.step():
            pass
    with lock, lock.step():  # a step within a query of the same thread (re-entrant)
        pass
    assert lock.acquire(blocking=False)
    lock.release()


def test_the_store_reads_and_writes_under_it() -> None:
    store = MetricStore()
    assert isinstance(store.reading(), StoreLock)
