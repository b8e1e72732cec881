"""metrics.k8s.io pod lists kept per batch and pod cache state: the same bytes as made afresh, the time of each
request written in, made again when a batch is stored or a pod changes."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from heapster.api import create_api_app
from heapster.api.kept import REQUEST_TIME, KeptAnswers
from heapster.interfaces import PluginContext
from heapster.model import DataBatch
from heapster.plugins import load_plugins
from heapster.store import MetricStore
from heapster.testing import FakeClock, synthetic_batch
from heapster.testing.cluster import StaticCluster

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
NOW = (T0 + timedelta(seconds=90)).timestamp()
BETA, ALPHA = "/apis/metrics.k8s.io/v1beta1", "/apis/metrics.k8s.io/v1alpha1"
PATHS = [
    (BETA + "/namespaces/default/pods", {}),
    (BETA + "/namespaces/default/pods?pretty=true", {}),
    (BETA + "/namespaces/default/pods", {"User-Agent": "curl/8.5"}),
    (BETA + "/namespaces/default/pods?labelSelector=app%3Da1", {}),
    (BETA + "/namespaces/default/pods?fieldSelector=metadata.name%3Dpod-1-0", {}),
    (BETA + "/namespaces/ghost/pods", {}),
    (BETA + "/pods", {}),
    (ALPHA + "/namespaces/default/pods/", {}),
    (ALPHA + "/namespaces/ghost/pods/", {}),
    ("/apis/metrics/v1alpha1/pods/", {}),
]


def pods() -> list[dict[str, Any]]:
    return [{"metadata": {"name": f"pod-{n}-{p}", "namespace": "default", "uid": f"uid-{n}-{p}",
                          "resourceVersion": "1", "labels": {"app": f"a{p}"}},
             "spec": {"nodeName": f"node-{n}", "containers": [{"name": f"c{c}"} for c in range(2)]}}
            for n in range(2) for p in range(2)]


class ChangingCluster(StaticCluster):
    """A static cluster that tells pod versions and counts its changes, as the Kubernetes source's does."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.changes = 0
        self.listed = 0

    def pod_keys(self, namespace: str | None = None) -> list[tuple[str, str]]:
        self.listed += 1
        return sorted(key for key in self.pods if namespace is None or key[0] == namespace)

    def pod_version(self, namespace: str, name: str) -> str | None:
        pod = self.pods.get((namespace, name))
        return None if pod is None else str(pod["metadata"]["resourceVersion"])

    def pod_changes(self) -> int:
        return self.changes


def relabel(cluster: StaticCluster, name: str, value: str) -> None:
    pod = copy.deepcopy(cluster.pods[("default", name)])
    pod["metadata"]["labels"]["app"] = value
    pod["metadata"]["resourceVersion"] = str(int(pod["metadata"]["resourceVersion"]) + 1)
    cluster.pods[("default", name)] = pod


async def store_batch(store: MetricStore, chain: list[Any], seq: int) -> None:
    batch: DataBatch = synthetic_batch(T0 + timedelta(minutes=seq), nodes=2, pods=2, containers=2, seq=seq)
    for metric_set in batch.metric_sets.values():
        metric_set.collection_start = T0 - timedelta(hours=1)
    for processor in chain:
        batch = await processor.process(batch)
    await store.export(batch)


class Twins:
    """The same store served twice: over a cluster that counts its pod changes (answers kept) and over a plain
    static one with the same pods (answers made afresh every time)."""

    def __init__(self) -> None:
        self.store = MetricStore()
        self.kept = ChangingCluster([], pods())
        self.fresh = StaticCluster([], pods())
        self.clocks = (FakeClock(NOW), FakeClock(NOW))
        self.clients: list[TestClient[Any, Any]] = []
        self.chain = load_plugins().build_processors(PluginContext(settings={}, cluster=self.fresh))

    async def start(self) -> None:
        for seq in (0, 1):
            await store_batch(self.store, self.chain, seq)
        for cluster, clock in zip((self.kept, self.fresh), self.clocks, strict=True):
            app = create_api_app(self.store, cluster, {"metric_resolution": 60.0}, clock=clock)
            client: TestClient[Any, Any] = TestClient(TestServer(app))
            await client.start_server()
            self.clients.append(client)

    async def close(self) -> None:
        for client in self.clients:
            await client.close()

    async def advance(self, seconds: float) -> None:
        for clock in self.clocks:
            await clock.advance(seconds)

    async def answers(self) -> list[bytes]:
        """Every path's answer from both, checked equal; the kept side's."""
        found = []
        for path, headers in PATHS:
            kept, fresh = [await (await client.get(path, headers=headers)).read() for client in self.clients]
            assert kept == fresh, path
            found.append(kept)
        return found


@pytest.fixture
async def twins() -> Any:
    both = Twins()
    await both.start()
    yield both
    await both.close()


async def test_kept_answers_are_the_fresh_ones_with_each_requests_time(twins: Twins) -> None:
    first = await twins.answers()
    assert b'"creationTimestamp":"2026-03-01T10:01:30Z"' in first[0]
    listed = twins.kept.listed
    assert await twins.answers() == first
    assert twins.kept.listed == listed  # the second round was kept: no pod listed
    await twins.advance(7)
    later = await twins.answers()
    assert later[0] == first[0].replace(b"10:01:30Z", b"10:01:37Z") and later != first
    assert twins.kept.listed == listed


async def test_a_changed_pod_or_a_new_batch_makes_them_again(twins: Twins) -> None:
    await twins.answers()
    for cluster in (twins.kept, twins.fresh):
        relabel(cluster, "pod-1-0", "a1")
    twins.kept.changes += 1
    changed = await twins.answers()
    assert changed[3].count(b'"name":"pod-') == 3  # app=a1: pod-0-1, pod-1-0 (relabelled), pod-1-1
    await store_batch(twins.store, twins.chain, 2)
    assert b'"timestamp":"2026-03-01T10:02:00Z"' in (await twins.answers())[0]


async def test_a_label_holding_the_stand_in_is_answered_as_is(twins: Twins) -> None:
    for cluster in (twins.kept, twins.fresh):
        relabel(cluster, "pod-0-0", REQUEST_TIME)
    twins.kept.changes += 1
    answers = await twins.answers()
    assert answers[0].count(b"\\u0000\\u0000\\u0000@@") == 1


def test_an_answer_is_not_kept_when_the_stand_in_is_found_more_often_than_items() -> None:
    kept = KeptAnswers()
    body = b'[{"t":"\\u0000\\u0000\\u0000@@"}]'
    assert kept.keep(1, "asked", body + body, 1) is None
    answer = kept.keep(1, "asked", body, 1)
    assert answer is not None and kept.get(1, "asked") is answer
    assert answer.render("2026-03-01T10:01:30Z") == b'[{"t":"2026-03-01T10:01:30Z"}]'
    assert answer.render("longer than the stand-in") is None
    assert kept.get(2, "asked") is None and kept.get(2, "asked") is None  # a new state drops them
