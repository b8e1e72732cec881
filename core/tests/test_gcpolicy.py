"""The daemon's garbage collection: automatic collection off while started, collections at quiet moments,
garbage still collected, the collector restored on stop."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from heapster.apifirst import ApiFirst
from heapster.gcpolicy import FULL_EVERY, ManagedGc
from heapster.testing.net import wait_until


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def cyclic_garbage() -> weakref.ref[Node]:
    return weakref.ref(Node())


@pytest.fixture
def collector_state() -> Iterator[None]:
    """Whatever a test does, the collector is as before afterwards (what a collection froze unfrozen)."""
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    yield
    gc.unfreeze()
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


def test_every_hundredth_collection_is_a_full_one(collector_state: None) -> None:
    policy = ManagedGc()
    generations = [policy.collect() for _ in range(FULL_EVERY)]
    assert generations.count(2) == 1 and generations[-1] == 2 and generations.count(0) == FULL_EVERY - 1
    assert policy.collections == [FULL_EVERY - 1, 0, 1]


def test_what_a_collection_finds_alive_is_frozen_and_its_cycles_freed_by_the_full_collection(
        collector_state: None) -> None:
    gc.disable()
    policy = ManagedGc()
    node = Node()
    garbage = weakref.ref(node)
    policy.collect()  # a young one: the node is alive, then frozen
    assert gc.is_tracked(node) and not any(found is node for found in gc.get_objects())  # in no generation
    del node
    for _ in range(FULL_EVERY - 2):
        policy.collect()
    assert garbage() is not None  # a cycle frozen alive: young collections never walk it
    assert policy.collect() == 2
    assert garbage() is None  # the full one unfroze it and found it dead


def test_a_young_cycle_is_freed_by_the_next_young_collection(collector_state: None) -> None:
    gc.disable()
    policy = ManagedGc()
    policy.collect()
    garbage = cyclic_garbage()
    assert policy.collect() == 0 and garbage() is None


async def test_the_check_turns_automatic_collection_off_again(collector_state: None) -> None:
    policy = ManagedGc(check_interval=60.0, max_interval=3600.0)
    policy.start(asyncio.get_running_loop())
    try:
        gc.enable()  # e.g. a decode's pause that began before start ends
        policy.check()
        assert not gc.isenabled()
    finally:
        policy.stop()
