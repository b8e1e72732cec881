"""The Lease elector (heapster's and the eventer's --leader-elect) with the real kubernetes client against
the simulator's coordination.k8s.io API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes import client

from heapster.errors import UsageError
from heapster.leader import LeaseTiming
from heapster_simulator import SimulatedCluster, SimulatorConfig
from heapster_source_kubernetes.lease import LeaseElector

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
    return LeaseElector(api, FAST.settings(("default", "eventer"), identity))


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


async def test_annotations_go_to_the_next_leader(api: Any) -> None:
    a, b = elector(api, "a"), elector(api, "b")
    await a.acquire()
    holding = asyncio.ensure_future(a.hold())
    a.annotate({"heapster.k8s.io/exported": "w1"})

    def annotations() -> dict[str, str]:
        lease = client.CoordinationV1Api(api).read_namespaced_lease("eventer", "default")
        return lease.metadata.annotations or {}

    deadline = time.monotonic() + 5
    while (await asyncio.to_thread(annotations)).get("heapster.k8s.io/exported") != "w1":
        assert time.monotonic() < deadline, "annotation not written by a renewal"
        await asyncio.sleep(0.05)
    a.annotate({"heapster.k8s.io/exported": "w2"})
    holding.cancel()
    await a.release()  # written with the release too
    await asyncio.wait_for(b.acquire(), 5)
    assert b.annotations["heapster.k8s.io/exported"] == "w2"


async def test_a_stale_write_is_a_conflict(api: Any) -> None:
    """Two replicas racing: the second replace with the same resourceVersion gets 409, as from a real API server."""
    from kubernetes.client.exceptions import ApiException

    a = elector(api, "a")
    await a.acquire()
    coordination = client.CoordinationV1Api(api)
    first = await asyncio.to_thread(coordination.read_namespaced_lease, "eventer", "default")
    second = await asyncio.to_thread(coordination.read_namespaced_lease, "eventer", "default")
    first.spec.holder_identity = "x"
    await asyncio.to_thread(coordination.replace_namespaced_lease, "eventer", "default", first)
    second.spec.holder_identity = "y"
    with pytest.raises(ApiException) as caught:
        await asyncio.to_thread(coordination.replace_namespaced_lease, "eventer", "default", second)
    assert caught.value.status == 409
    assert not await a.try_acquire_or_renew()  # "x" holds it now, and its lease has not run out
