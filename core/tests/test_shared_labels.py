"""Label sets are shared and read-only: processors replace a row's label dict, never change it, and what they
reuse from one batch to the next (enriched twins, replayed runs of rows, the store's label objects) gives the
same batch as processing fresh copies from scratch, also when pods, namespaces and rows change in between."""

from __future__ import annotations

import copy
import sys
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from heapster.columns import ColumnBatch
from heapster.interfaces import PluginContext, Processor
from heapster.model import DataBatch, MetricSet, MetricType, MetricValue
from heapster.plugins import load_plugins
from heapster.processors.labels import LabelCopier
from heapster.processors.namespace_enricher import NamespaceBasedEnricher
from heapster.processors.pod_aggregator import PodAggregator
from heapster.processors.pod_enricher import PodBasedEnricher, pod_id
from heapster.processors.runs import given as given_run
from heapster.store import MetricStore
from heapster.testing.batches import column_batch_differences
from heapster.testing.cluster import StaticCluster

from .test_processors_units import POD, T0

G = MetricType.GAUGE


def pod(namespace: str, name: str, uid: str, version: str, labels: dict[str, str]) -> dict[str, Any]:
    found = copy.deepcopy(POD)
    found["metadata"].update(name=name, namespace=namespace, uid=uid, resourceVersion=version, labels=labels)
    return found


class Versioned(StaticCluster):
    """A cluster state that tells pod versions (the enricher then skips unchanged pods, as with informers)."""

    def pod_version(self, namespace: str, name: str) -> str | None:
        found = self.get_pod(namespace, name)
        return None if found is None else found["metadata"]["resourceVersion"]


class VersionsAtOnce(Versioned):
    """One that also tells every pod's version in one mapping (as the Kubernetes source's informer does)."""

    def pod_versions(self) -> dict[str, str]:
        return {f"{ns}/{name}": found["metadata"]["resourceVersion"] for (ns, name), found in self.pods.items()}


class CountsChanges(VersionsAtOnce):
    """One that also tells whether any pod changed (as the Kubernetes source's ``pod_changes`` count): the
    enricher then checks no version while the value stays the same."""

    def pod_changes(self) -> int:
        return hash(tuple(sorted(self.pod_versions().items())))


def source_batch() -> ColumnBatch:
    """Two nodes: n1 with pod shop/web (both containers) and an unknown pod, n2 with pod blog/api."""
    sets: dict[str, MetricSet] = {}

    def add(key: str, labels: dict[str, str], usage: int) -> None:
        values = {"cpu/usage_rate": MetricValue(usage, G), "memory/usage": MetricValue(usage * 3, G)}
        sets[key] = MetricSet(labels, values, collection_start=T0)

    for node in ("n1", "n2"):
        base = {"nodename": node, "hostname": f"{node}.example", "host_id": f"i-{node}"}
        add(f"node:{node}", {"type": "node", **base}, 1000)
        pods = [("shop", "web"), ("other", "ghost")] if node == "n1" else [("blog", "api")]
        for namespace, name in pods:
            pod_labels = {"type": "pod", **base, "pod_id": "", "pod_name": name, "namespace_name": namespace}
            add(f"namespace:{namespace}/pod:{name}", pod_labels, 10)
            for container in ("app", "sidecar"):
                add(f"namespace:{namespace}/pod:{name}/container:{container}",
                    {**pod_labels, "type": "pod_container", "container_name": container}, 5)
    return ColumnBatch.from_metric_sets(sets)


def chain(cluster: StaticCluster) -> list[Processor]:
    processors = load_plugins().build_processors(PluginContext(settings={"metric_resolution": 10}, cluster=cluster))
    return [p for p in processors if p.name != "rate calculator"]  # the only stateful one: left out of both runs


async def run(processors: list[Processor], cols: ColumnBatch, minute: int) -> ColumnBatch:
    batch = DataBatch(T0 + timedelta(minutes=minute), columns=cols)
    for processor in processors:
        batch = await processor.process(batch)
    return batch.columns


def fresh(cols: ColumnBatch) -> ColumnBatch:
    """The same batch with every label dict a new object."""
    return ColumnBatch.from_metric_sets(cols.to_metric_sets())


def ordered(cols: ColumnBatch) -> list[list[tuple[str, str]]]:
    return [list(labels.items()) for labels in cols.labels]


@pytest.mark.parametrize("kind", [Versioned, VersionsAtOnce, CountsChanges])
async def test_reused_label_objects_give_what_fresh_processing_gives(kind: type[Versioned]) -> None:
    cluster = kind(pods=[pod("shop", "web", "u-1", "7", {"app": "web"}),
                              pod("blog", "api", "u-2", "3", {"app": "api"})])
    steady = chain(cluster)
    source = source_batch()
    pristine = [dict(labels) for labels in source.labels]
    everything = np.arange(len(source), dtype=np.intp)
    store = MetricStore()

    async def check(minute: int, rows: np.ndarray = everything) -> ColumnBatch:
        got = await run(steady, source.select(rows), minute)  # the source's very label objects
        want = await run(chain(cluster), fresh(source.select(rows)), minute)  # new objects, new processors
        assert column_batch_differences(got, want) == []
        assert ordered(got) == ordered(want)
        await store.export(DataBatch(T0 + timedelta(minutes=minute), columns=got))
        assert {key: store.labels(key) for key in got.keys} == dict(zip(got.keys, got.labels, strict=True))
        return got

    first = await check(0)
    second = await check(1)
    # Nothing changed: the enriched dicts of the first batch are given again (no new dict per row).
    assert all(a is b for a, b in zip(first.labels, second.labels, strict=True))
    web_app = first.keys.index("namespace:shop/pod:web/container:app")
    assert first.labels[web_app]["labels"] == "app:web" and first.labels[web_app]["namespace_id"] == "ns-shop"

    # A new pod version (new labels, new requests) reaches its rows; the other node's rows stay as they were.
    web = cluster.pods[("shop", "web")]
    web["metadata"].update(resourceVersion="8", labels={"app": "web", "tier": "front"})
    web["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "300m"
    third = await check(2)
    assert third.labels[web_app]["labels"] == "app:web,tier:front"
    assert third.values["cpu/request"].data[web_app] == 300
    api_app = third.keys.index("namespace:blog/pod:api/container:app")
    assert third.labels[api_app] is second.labels[api_app]

    # A namespace's uid changes; the unknown pod becomes known.
    cluster.namespaces["shop"]["metadata"]["uid"] = "ns-shop-2"
    cluster.pods[("other", "ghost")] = pod("other", "ghost", "u-3", "1", {"app": "ghost"})
    fourth = await check(3)
    assert fourth.labels[web_app]["namespace_id"] == "ns-shop-2"
    assert fourth.labels[fourth.keys.index("namespace:other/pod:ghost")]["pod_id"] == "u-3"

    # A container row goes missing (the enricher stubs it), then comes back; a pod is deleted.
    without = np.array([row for row, key in enumerate(source.keys)
                        if key != "namespace:blog/pod:api/container:sidecar"], dtype=np.intp)
    stubbed = await check(4, without)
    assert "namespace:blog/pod:api/container:sidecar" in stubbed.keys
    await check(5)
    del cluster.pods[("blog", "api")]
    gone = await check(6)
    assert gone.labels[gone.keys.index("namespace:blog/pod:api/container:app")]["pod_id"] == ""  # as the source
    await check(7)

    # No processor changed a label dict it was given.
    assert [dict(labels) for labels in source.labels] == pristine


async def test_store_sees_a_new_label_object_with_other_labels_and_keeps_an_unchanged_one() -> None:
    store = MetricStore()
    labels = {"type": "node", "nodename": "n1"}

    async def put(minute: int, given: dict[str, str]) -> None:
        cols = ColumnBatch.from_metric_sets({"node:n1": MetricSet(given, {"memory/usage": MetricValue(minute, G)})})
        cols.labels[0] = given  # the very object (from_metric_sets copies)
        await store.export(DataBatch(T0 + timedelta(minutes=minute), columns=cols))

    await put(0, labels)
    await put(1, labels)
    assert store.labels("node:n1") == labels
    await put(2, {**labels, "extra": "x"})  # another object, other labels
    assert store.labels("node:n1") == {**labels, "extra": "x"}
    await put(3, dict(labels))  # another object, the first labels again
    assert store.labels("node:n1") == labels


def unlinked(cluster: StaticCluster, settings: dict[str, Any]) -> list[Processor]:
    """The chain with a pod enricher that is not told the namespace enricher follows it (each enricher
    makes its own dicts, as before the two shared their work)."""
    processors = load_plugins().build_processors(PluginContext(settings=settings, cluster=cluster))
    return [PodBasedEnricher(cluster, LabelCopier.from_settings(settings)) if isinstance(p, PodBasedEnricher) else p
            for p in processors if p.name != "rate calculator"]


@pytest.mark.parametrize("store_label", [[], ["namespace_id=team", "namespace_name=owner"]])
async def test_the_pod_enricher_sets_namespace_ids_as_the_namespace_enricher_would(store_label: list[str]) -> None:
    """Told that the namespace enricher follows, the pod enricher sets ``namespace_id`` in its own twins and the
    namespace enricher keeps them: the same batches as the two enrichers apart, with one dict per pod or
    container row fewer, also when a namespace's uid changes, a namespace is unknown and becomes known, and a
    pod label is stored as ``namespace_id`` or ``namespace_name`` (what the namespace enricher reads)."""
    settings: dict[str, Any] = {"metric_resolution": 10, "store_label": store_label}
    cluster = CountsChanges(pods=[pod("shop", "web", "u-1", "7", {"app": "web", "team": "t1", "owner": "team-a"}),
                                  pod("blog", "api", "u-2", "3", {"app": "api", "owner": "elsewhere"})])
    del cluster.namespaces["shop"]  # web's namespace unknown at first, api's known
    cluster.namespaces["elsewhere"] = {"metadata": {"name": "elsewhere", "uid": "ns-elsewhere"}}
    linked = [p for p in load_plugins().build_processors(PluginContext(settings=settings, cluster=cluster))
              if p.name != "rate calculator"]
    enricher = next(p for p in linked if isinstance(p, PodBasedEnricher))
    assert enricher._namespace_ids
    source = source_batch()
    web_app = source.keys.index("namespace:shop/pod:web/container:app")

    async def check(minute: int) -> ColumnBatch:
        got = await run(linked, source.select(np.arange(len(source), dtype=np.intp)), minute)
        want = await run(unlinked(cluster, settings), fresh(source), minute)
        assert column_batch_differences(got, want) == []
        assert ordered(got) == ordered(want)
        return got

    first = await check(0)
    second = await check(1)
    assert all(a is b for a, b in zip(first.labels, second.labels, strict=True))
    namespace_of_web = "team-a" if store_label else "shop"
    cluster.namespaces[namespace_of_web] = {"metadata": {"name": namespace_of_web, "uid": "ns-web"}}
    third = await check(2)
    assert third.labels[web_app]["namespace_id"] == "ns-web"
    api_app = third.keys.index("namespace:blog/pod:api/container:app")
    cluster.namespaces[namespace_of_web]["metadata"]["uid"] = "ns-web-2"
    fourth = await check(3)
    assert fourth.labels[web_app]["namespace_id"] == "ns-web-2"
    assert fourth.labels[api_app] is third.labels[api_app]
    # n2's run (no unknown pod on it) is one the pod enricher replays while nothing changes
    namespace_of_api = "elsewhere" if store_label else "blog"
    cluster.namespaces[namespace_of_api]["metadata"]["uid"] = "ns-api-2"
    fifth = await check(4)
    assert fifth.labels[api_app]["namespace_id"] == "ns-api-2"
    del cluster.namespaces[namespace_of_web], cluster.namespaces[namespace_of_api]
    sixth = await check(5)
    assert ("namespace_id" in sixth.labels[web_app]) == bool(store_label)  # the stored pod label, or none
    assert "namespace_id" not in sixth.labels[api_app]  # its pod has no label stored as namespace_id
    await check(6)


async def test_the_pod_enricher_leaves_namespace_ids_alone_unless_the_namespace_enricher_follows() -> None:
    cluster = StaticCluster(pods=[pod("shop", "web", "u-1", "7", {"app": "web"})])
    enricher = PodBasedEnricher(cluster)
    batch = DataBatch(T0, columns=source_batch())
    enricher.followed_by(NamespaceBasedEnricher(StaticCluster()))  # another cluster's: not the same uids
    await enricher.process(batch)
    assert not any("namespace_id" in labels for labels in batch.columns.labels)
    enricher = PodBasedEnricher(cluster)
    enricher.followed_by(NamespaceBasedEnricher(cluster))
    batch = DataBatch(T0, columns=source_batch())
    await enricher.process(batch)
    web = batch.columns.labels[batch.columns.keys.index("namespace:shop/pod:web")]
    assert web["namespace_id"] == "ns-shop" and list(web)[-1] == "namespace_id"
    enriched = list(batch.columns.labels)
    await NamespaceBasedEnricher(cluster).process(batch)
    # the namespace enricher keeps the pod enricher's dicts of the known pod (no second dict per row)
    rows = [row for row, key in enumerate(batch.columns.keys) if key.startswith("namespace:shop/pod:web")]
    assert len(rows) == 3 and all(batch.columns.labels[row] is enriched[row] for row in rows)


async def test_the_processors_after_the_pod_enricher_keep_its_list_of_each_run() -> None:
    """The namespace enricher and the pod aggregator keep a run's label dicts as the pod enricher gave them, in the
    pod enricher's very list: one list per run for the three processors, not three."""
    cluster = CountsChanges(pods=[pod("shop", "web", "u-1", "7", {"app": "web"}),
                                  pod("blog", "api", "u-2", "3", {"app": "api"}),
                                  pod("other", "ghost", "u-3", "1", {"app": "ghost"})])  # every run replayed
    processors = chain(cluster)
    source = source_batch()
    for minute in range(2):
        await run(processors, source.select(np.arange(len(source), dtype=np.intp)), minute)
    enricher = next(p for p in processors if isinstance(p, PodBasedEnricher))
    namespaces = next(p for p in processors if isinstance(p, NamespaceBasedEnricher))
    aggregator = next(p for p in processors if isinstance(p, PodAggregator))
    given = {id(segment.outputs) for segment in enricher._segments.values()}
    assert len(given) == 2  # n1's run and n2's
    assert {id(kept.inputs) for kept in namespaces._runs.values()} == given
    assert {id(kept.outputs) for kept in namespaces._runs.values()} == given
    assert {id(kept.inputs) for kept in aggregator._runs.values()} == given
    items = list(source.labels[:3])  # dicts the pod enricher gave in no run: the list itself
    assert given_run(items) is items


async def test_runs_of_many_distinct_requests_replay_what_fresh_processing_gives() -> None:
    """300 pods on one node, each with a cpu request of its own: the pod enricher's value table of that layout
    outgrows an index of one byte, and the replayed run still gives what fresh processing gives."""
    pods = [pod("shop", f"web-{n}", f"u-{n}", "1", {"app": "web"}) for n in range(300)]
    for n, found in enumerate(pods):
        found["spec"]["containers"][0]["resources"]["requests"]["cpu"] = f"{n + 1}m"
    cluster = CountsChanges(pods=pods)
    sets: dict[str, MetricSet] = {}
    base = {"nodename": "n1", "hostname": "n1.example", "host_id": "i-n1"}
    sets["node:n1"] = MetricSet({"type": "node", **base}, {"memory/usage": MetricValue(1, G)}, collection_start=T0)
    for n in range(300):
        pod_labels = {"type": "pod", **base, "pod_id": "", "pod_name": f"web-{n}", "namespace_name": "shop"}
        sets[f"namespace:shop/pod:web-{n}"] = MetricSet(pod_labels, {"memory/usage": MetricValue(n, G)},
                                                        collection_start=T0)
        for container in ("app", "sidecar"):
            sets[f"namespace:shop/pod:web-{n}/container:{container}"] = MetricSet(
                {**pod_labels, "type": "pod_container", "container_name": container},
                {"memory/usage": MetricValue(n, G)}, collection_start=T0)
    source = ColumnBatch.from_metric_sets(sets)
    steady = chain(cluster)
    for minute in range(3):
        got = await run(steady, source.select(np.arange(len(source), dtype=np.intp)), minute)
        want = await run(chain(cluster), fresh(source), minute)
        assert column_batch_differences(got, want) == []
        assert ordered(got) == ordered(want)
    last = got.keys.index("namespace:shop/pod:web-299/container:app")
    assert got.values["cpu/request"].data[last] == 300
    enricher = next(p for p in steady if isinstance(p, PodBasedEnricher))
    assert {index.dtype for segment in enricher._segments.values() for *_, index in segment.layouts} == {
        np.dtype(np.uint16), np.dtype(np.uint8)}  # the app containers' 300 values, the sidecars' one


def test_pods_are_found_by_one_interned_text_unless_it_would_not_tell_them_apart() -> None:
    assert pod_id("shop", "web") is sys.intern("shop/web")
    assert pod_id("a/b", "c") != pod_id("a", "b/c")  # the text would be the same: a pair for the first
    assert pod_id("a/b", "c") == ("a/b", "c")
