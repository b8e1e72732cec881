"""The Lease elector (heapster's and the eventer's --leader-elect) with the real kubernetes client against
the simulator's coordination.k8s.io API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes import client

from heapster.errors import UsageError
from heapster.leader import LeaseTiming
from heapster.testing.net import PATIENCE, async_poll_until, async_wait_until
from heapster_simulator import SimulatedCluster, SimulatorConfig
from heapster_source_kubernetes.lease import LeaseElector

FAST = LeaseTiming(lease_duration=2.0, renew_deadline=1.2, retry_period=0.2)
ROOMY = LeaseTiming(lease_duration=6.0, renew_deadline=1.2, retry_period=0.2)
"""As FAST for the leader (it gives up after 1.2 s without a renewal), but the others wait 6 s before taking
over: an upper bound of "before anyone may take over" that a loaded machine (load 8 and more) still meets."""


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


def elector(api: Any, identity: str, timing: LeaseTiming = FAST) -> LeaseElector:
    return LeaseElector(api, timing.settings(("default", "eventer"), identity))


def holder(api: Any) -> str | None:
    lease = client.CoordinationV1Api(api).read_namespaced_lease("eventer", "default")
    return lease.spec.holder_identity


async def test_one_leader_and_a_release_hands_over_at_once(api: Any) -> None:
    a, b = elector(api, "a", ROOMY), elector(api, "b", ROOMY)
    await asyncio.wait_for(a.acquire(), PATIENCE)
    assert a.leading and await asyncio.to_thread(holder, api) == "a"
    assert not await b.try_acquire_or_renew()
    assert await a.try_acquire_or_renew()  # renewing keeps it
    assert not b.leading and b.holder == "a"
    await a.release()
    assert not a.leading
    # no lease duration to wait out: b's very next attempt takes the lease (before the release it was refused)
    assert await b.try_acquire_or_renew()
    assert b.leading and await asyncio.to_thread(holder, api) == "b"


async def test_a_silent_leader_is_replaced_only_after_the_lease_duration(api: Any) -> None:
    a, b = elector(api, "a"), elector(api, "b")
    await a.acquire()  # and then a crashes: no more renewals
    assert not await b.try_acquire_or_renew()
    started = time.monotonic()
    await asyncio.wait_for(b.acquire(), PATIENCE)
    waited = time.monotonic() - started
    assert waited >= FAST.lease_duration - FAST.retry_period - 0.05
    assert await asyncio.to_thread(holder, api) == "b"
    lease = await asyncio.to_thread(client.CoordinationV1Api(api).read_namespaced_lease, "eventer", "default")
    assert lease.spec.lease_transitions == 1


async def test_a_leader_that_cannot_renew_stops_before_anyone_may_take_over(api: Any) -> None:
    a = elector(api, "a", ROOMY)
    await a.acquire()
    lease = await asyncio.to_thread(client.CoordinationV1Api(api).read_namespaced_lease, "eventer", "default")
    lease.spec.holder_identity = "usurper"  # another replica's write wins the race
    await asyncio.to_thread(client.CoordinationV1Api(api).replace_namespaced_lease, "eventer", "default", lease)
    started = time.monotonic()
    await asyncio.wait_for(a.hold(), PATIENCE)  # returns when leadership is lost
    lost_after = time.monotonic() - started
    assert not a.leading
    assert lost_after < ROOMY.lease_duration  # it stopped before the others' lease wait was over


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

    async def written() -> bool:
        return (await asyncio.to_thread(annotations)).get("heapster.k8s.io/exported") == "w1"

    await async_poll_until(written, PATIENCE, what="the annotation written by a renewal")
    a.annotate({"heapster.k8s.io/exported": "w2"})
    holding.cancel()
    await a.release()  # written with the release too
    await asyncio.wait_for(b.acquire(), PATIENCE)
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


async def test_heapster_stops_exporting_before_the_lease_can_run_out_and_hands_over_its_record(api: Any) -> None:
    """heapster's gate before the sinks on the real elector: a replica that cannot renew stops its sink queues
    before another may take over, and the next leader exports exactly the windows after the recorded one."""
    from datetime import UTC, datetime, timedelta

    from heapster.handover import LeaderExport
    from heapster.model import DataBatch
    from heapster.sinkqueue import SinkQueue

    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def replica(identity: str) -> tuple[LeaderExport, list[datetime], SinkQueue[DataBatch]]:
        gate = LeaderExport(elector(api, identity, ROOMY), resolution=10, store_duration=900)
        written: list[datetime] = []

        async def export(batch: DataBatch) -> None:
            written.append(batch.timestamp)

        queue: SinkQueue[DataBatch] = SinkQueue("influxdb", export, on_exported=gate.acknowledger("influxdb"))
        gate.add("influxdb", queue)
        return gate, written, queue

    a, written_a, queue_a = replica("a")
    b, written_b, queue_b = replica("b")
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    running_a = asyncio.create_task(a.run(stop_a))
    await async_wait_until(lambda: a.live, PATIENCE, what="a to lead")
    running_b = asyncio.create_task(b.run(stop_b))
    for n in range(3):  # windows one after another, as the scheduler puts them: each exported before the next
        for gate in (a, b):
            gate.put(DataBatch(t0 + timedelta(seconds=10 * n)))
        await async_wait_until(lambda n=n: len(written_a) == n + 1, PATIENCE, what=f"a's export of window {n}")
    # The elector's annotations are the Lease's as last written (after the API server took the write).
    await async_wait_until(lambda: "2026-01-01T00:00:20" in json.dumps(dict(a.elector.annotations)), PATIENCE,
                           what="the leader's record in the Lease")
    assert "2026-01-01T00:00:20" in await asyncio.to_thread(holder_annotations, api)
    assert written_b == []
    # Another replica's write wins the Lease; "a" cannot renew any more.
    coordination = client.CoordinationV1Api(api)
    lease = await asyncio.to_thread(coordination.read_namespaced_lease, "eventer", "default")
    lease.spec.holder_identity = "usurper"
    await asyncio.to_thread(coordination.replace_namespaced_lease, "eventer", "default", lease)
    usurped = time.monotonic()
    await async_wait_until(lambda: not a.live, PATIENCE, what="a to stop exporting")
    assert time.monotonic() - usurped < ROOMY.lease_duration  # stopped before anyone may take over
    stop_a.set()  # "a" leaves: otherwise it may win the Lease back from the silent usurper before "b" does
    await running_a
    for gate in (a, b):  # a window nobody exports while the usurper is silent
        gate.put(DataBatch(t0 + timedelta(seconds=30)))
    await async_wait_until(lambda: written_b == [t0 + timedelta(seconds=30)], PATIENCE, what="b's replay")
    assert written_a == [t0 + timedelta(seconds=10 * n) for n in range(3)]
    assert b.replayed == 1
    stop_b.set()
    await running_b
    for queue in (queue_a, queue_b):
        await queue.close(1)
    await b.close()
    await a.close()


def holder_annotations(api: Any) -> str:
    lease = client.CoordinationV1Api(api).read_namespaced_lease("eventer", "default")
    return json.dumps(lease.metadata.annotations or {})
