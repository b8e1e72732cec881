"""The daemon's garbage collection: automatic collection off while started, collections at quiet moments,
garbage still collected, the collector restored on stop."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from heapster.apifirst import ApiFirst
from heapster.gcpolicy import FULL_EVERY, MIDDLE_EVERY, ManagedGc
from heapster.testing.net import wait_until


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def cyclic_garbage() -> weakref.ref[Node]:
    return weakref.ref(Node())


@pytest.fixture
def collector_state() -> Iterator[None]:
    """Whatever a test does, the collector is as before afterwards."""
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    (gc.enable if enabled else gc.disable)()


async def test_start_turns_automatic_collection_off_and_stop_restores_it(collector_state: None) -> None:
    gc.enable()
    gc.set_threshold(1234, 5, 6)
    policy = ManagedGc(check_interval=60.0)
    policy.start(asyncio.get_running_loop())
    assert not gc.isenabled() and policy.started
    policy.stop()
    assert gc.isenabled() and gc.get_threshold() == (1234, 5, 6) and not policy.started
    gc.disable()
    policy.start(asyncio.get_running_loop())
    policy.stop()
    assert not gc.isenabled()  # it was off before: stays off


async def test_garbage_of_a_stored_batch_is_collected_when_no_request_is_in_flight(collector_state: None) -> None:
    first = ApiFirst()
    policy = ManagedGc(first.busy, check_interval=0.01, min_interval=0.0, max_interval=3600.0)
    policy.start(asyncio.get_running_loop())
    try:
        token = first.begin()
        garbage = cyclic_garbage()
        policy.batch_stored()
        for _ in range(20):  # many checks (what the timer runs) while the request is in flight: none collects
            policy.check()
        assert garbage() is not None and sum(policy.collections) == 0
        first.end(token)
        await asyncio.to_thread(wait_until, lambda: garbage() is None, 10.0)
        assert policy.collections[0] >= 1
    finally:
        policy.stop()


async def test_garbage_is_collected_without_batches_after_the_longest_interval(collector_state: None) -> None:
    policy = ManagedGc(check_interval=0.01, min_interval=3600.0, max_interval=0.05)
    policy.start(asyncio.get_running_loop())
    try:
        garbage = cyclic_garbage()
        await asyncio.to_thread(wait_until, lambda: garbage() is None, 10.0)
    finally:
        policy.stop()


def test_a_stored_batch_waits_for_the_shortest_interval_since_the_last_collection(collector_state: None) -> None:
    policy = ManagedGc(min_interval=3600.0, max_interval=3600.0)
    gc.disable()
    policy.batch_stored()
    garbage = cyclic_garbage()
    policy.check()
    assert garbage() is not None and sum(policy.collections) == 0
    policy.min_interval = 0.0
    policy.check()  # the batch is still due
    assert garbage() is None and policy.collections[0] == 1


def test_a_young_generation_past_the_limit_is_collected_even_while_a_request_is_in_flight(
        collector_state: None) -> None:
    policy = ManagedGc(lambda: True, young_limit=1, max_interval=3600.0)
    gc.disable()
    garbage = cyclic_garbage()
    policy.check()
    assert garbage() is None and policy.collections[0] == 1


def test_older_generations_are_collected_every_so_often(collector_state: None) -> None:
    policy = ManagedGc()
    generations = [policy.collect() for _ in range(MIDDLE_EVERY * FULL_EVERY)]
    assert generations.count(2) == 1 and generations[-1] == 2
    assert generations.count(1) == FULL_EVERY - 1
    assert policy.collections == [generations.count(0), FULL_EVERY - 1, 1]


def test_old_cyclic_garbage_is_freed_by_the_full_collection(collector_state: None) -> None:
    gc.disable()
    policy = ManagedGc()
    node = Node()
    garbage = weakref.ref(node)
    gc.collect(1)  # the node survives into the oldest generation
    del node
    for _ in range(MIDDLE_EVERY * FULL_EVERY - 1):
        policy.collect()
    assert garbage() is not None  # young and middle collections do not look at the oldest generation
    policy.collect()
    assert garbage() is None


async def test_the_check_turns_automatic_collection_off_again(collector_state: None) -> None:
    policy = ManagedGc(check_interval=60.0, max_interval=3600.0)
    policy.start(asyncio.get_running_loop())
    try:
        gc.enable()  # e.g. a decode's pause that began before start ends
        policy.check()
        assert not gc.isenabled()
    finally:
        policy.stop()
