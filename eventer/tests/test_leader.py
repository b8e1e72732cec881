"""The Lease elector with the real kubernetes client against the simulator's coordination.k8s.io API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes import client

from heapster.errors import UsageError
from heapster_eventer.leader import LeaseElector, LeaseTiming
from heapster_simulator import SimulatedCluster, SimulatorConfig

FAST = LeaseTiming(lease_duration=2.0, renew_deadline=1.2, retry_period=0.2)


@pytest.fixture
async def api() -> AsyncIterator[Any]:
    async with SimulatedCluster(SimulatorConfig(nodes=0)) as cluster:
        configuration = client.Configuration()
        configuration.host = cluster.api_url
        if cluster.token:
            configuration.api_key = {"BearerToken": f"Bearer {cluster.token}"}
        api_client = client.ApiClient(configuration)
        try:
            yield api_client
        finally:
            api_client.close()


def elector(api: Any, identity: str) -> LeaseElector:
    return LeaseElector(api, "default", "eventer", identity, timing=FAST)


def holder(api: Any) -> str | None:
    lease = client.CoordinationV1Api(api).read_namespaced_lease("eventer", "default")
    return lease.spec.holder_identity


async def test_one_leader_and_a_release_hands_over_at_once(api: Any) -> None:
    a, b = elector(api, "a"), elector(api, "b")
    await asyncio.wait_for(a.acquire(), 5)
    assert a.leading and await asyncio.to_thread(holder, api) == "a"
    assert not await b.try_acquire_or_renew()
    assert await a.try_acquire_or_renew()  # renewing keeps it
    assert not b.leading and b.holder == "a"
    await a.release()
    assert not a.leading
    started = time.monotonic()
    await asyncio.wait_for(b.acquire(), 5)
    assert time.monotonic() - started < 1.0  # no lease duration to wait out
    assert await asyncio.to_thread(holder, api) == "b"


async def test_a_silent_leader_is_replaced_only_after_the_lease_duration(api: Any) -> None:
    a, b = elector(api, "a"), elector(api, "b")
    await a.acquire()  # and then a crashes: no more renewals
    assert not await b.try_acquire_or_renew()
    started = time.monotonic()
    await asyncio.wait_for(b.acquire(), 10)
    waited = time.monotonic() - started
    assert waited >= FAST.lease_duration - FAST.retry_period - 0.05
    assert await asyncio.to_thread(holder, api) == "b"
    lease = await asyncio.to_thread(client.CoordinationV1Api(api).read_namespaced_lease, "eventer", "default")
    assert lease.spec.lease_transitions == 1


async def test_a_leader_that_cannot_renew_stops_before_anyone_may_take_over(api: Any) -> None:
    a = elector(api, "a")
    await a.acquire()
    lease = await asyncio.to_thread(client.CoordinationV1Api(api).read_namespaced_lease, "eventer", "default")
    lease.spec.holder_identity = "usurper"  # another replica's write wins the race
    await asyncio.to_thread(client.CoordinationV1Api(api).replace_namespaced_lease, "eventer", "default", lease)
    started = time.monotonic()
    await asyncio.wait_for(a.hold(), 10)  # returns when leadership is lost
    lost_after = time.monotonic() - started
    assert not a.leading
    assert lost_after < FAST.lease_duration  # it stopped before the others' lease wait was over


def test_timings_must_nest() -> None:
    with pytest.raises(UsageError):
        LeaseTiming(lease_duration=2, renew_deadline=3, retry_period=1).check()
