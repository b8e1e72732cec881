"""Unit tests of each processor's edge cases: label copier, quantities, rates, stubs, aggregation fixes."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from heapster.interfaces import PluginContext
from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricType, MetricValue
from heapster.plugins import load_plugins
from heapster.processors import (
    LabelCopier,
    NamespaceBasedEnricher,
    NodeAggregator,
    NodeAutoscalingEnricher,
    PodAggregator,
    PodBasedEnricher,
    RateCalculator,
)
from heapster.processors.quantity import format_binary, format_milli, milli_value, parse_quantity, value
from heapster.testing.cluster import StaticCluster

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
C, G = MetricType.CUMULATIVE, MetricType.GAUGE

# --- label copier (Heapster's label_copier_test cases) -------------------------------------------------

LABELS = {"name": "bike", "colour": "red", "price": "too_high", "weight": "10kg", "labels": "preorder;configurable"}


@pytest.mark.parametrize(("separator", "stored", "ignored", "expected"), [
    (",", [], [], {"labels": "colour:red,labels:preorder;configurable,name:bike,price:too_high,weight:10kg"}),
    ("-", [], [], {"labels": "colour:red-labels:preorder;configurable-name:bike-price:too_high-weight:10kg"}),
    (",", ["name", "price", "copiedlabels=labels", "unknown"], [],
     {"name": "bike", "price": "too_high", "copiedlabels": "preorder;configurable",
      "labels": "colour:red,labels:preorder;configurable,name:bike,price:too_high,weight:10kg"}),
    (",", [], ["colour", "weight", "unknown"], {"labels": "labels:preorder;configurable,name:bike,price:too_high"}),
    ("-", ["name", "colour", "copiedlabels=labels", "price", "weight", "unknown"],
     ["colour", "labels", "price", "unknown"],
     {"name": "bike", "colour": "red", "price": "too_high", "weight": "10kg", "copiedlabels": "preorder;configurable",
      "labels": "name:bike-weight:10kg"}),
])
def test_label_copier(separator: str, stored: list[str], ignored: list[str], expected: dict[str, str]) -> None:
    out = {"somelabel": "somevalue"}
    LabelCopier(separator, stored, ignored).copy(LABELS, out)
    assert out == {"somelabel": "somevalue", **expected}


def test_label_copier_from_settings() -> None:
    copier = LabelCopier.from_settings({"label_separator": "|", "store_label": ["team"], "ignore_label": ["x"]})
    assert copier.copied({"team": "a", "x": "1", "b": "2"}) == {"team": "a", "labels": "b:2|team:a"}


# --- quantities ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "exact"), [
    ("100m", Decimal("0.1")), ("14", Decimal(14)), ("15Mi", Decimal(15 * 2**20)), ("5M", Decimal(5_000_000)),
    ("8024304Ki", Decimal(8024304 * 1024)), ("1e3", Decimal(1000)), ("0.5", Decimal("0.5")), ("2E", Decimal("2e18")),
])
def test_parse_quantity(text: str, exact: Decimal) -> None:
    assert parse_quantity(text) == exact


def test_quantity_rounding_and_errors() -> None:
    assert milli_value("100m") == 100 and milli_value("1.5") == 1500 and milli_value("0.1m") == 1  # rounds up
    assert value("1.2") == 2 and value("5M") == 5_000_000
    for bad in ("", "abc", "1e", "12Qi", "m"):
        with pytest.raises(ValueError, match="invalid quantity"):
            parse_quantity(bad)


def test_quantity_formatting_as_go() -> None:
    assert [format_milli(m) for m in (0, 250, 1000, 1500, 2_000_000)] == ["0", "250m", "1", "1500m", "2k"]
    assert [format_binary(b) for b in (0, 1000, 1024, 1536, 65536 * 1024, 1234567)] == [
        "0", "1000", "1Ki", "1536", "64Mi", "1234567"]


# --- rate calculator -------------------------------------------------------------------------------


def counter_set(cpu: int, rx: int, at: datetime, start: datetime = T0, disk: dict[str, int] | None = None) -> MetricSet:
    labeled = [LabeledMetric("disk/io_read_bytes", {"resource_id": dev}, n, C) for dev, n in (disk or {}).items()]
    return MetricSet({"type": "node"}, {"cpu/usage": MetricValue(cpu, C), "network/rx": MetricValue(rx, C)}, labeled,
                     collection_start=start, scrape_time=at)


def batch_at(minute: int, ms: MetricSet) -> DataBatch:
    return DataBatch(T0 + timedelta(minutes=minute), {"node:a": ms})


def rates(batch: DataBatch) -> dict[str, int | float]:
    return {k: v.value for k, v in batch.metric_sets["node:a"].values.items() if k.endswith("_rate")}


def test_rates_use_scrape_times_and_types() -> None:
    calc = RateCalculator()
    calc.apply(batch_at(1, counter_set(0, 0, T0 + timedelta(seconds=55))))
    second = batch_at(2, counter_set(10_000_000_000, 3000, T0 + timedelta(seconds=115)))
    calc.apply(second)
    assert rates(second) == {"cpu/usage_rate": 166, "network/rx_rate": 50.0}   # 1e13 // 6e10; 3000 / 60
    assert type(rates(second)["cpu/usage_rate"]) is int and type(rates(second)["network/rx_rate"]) is float


def test_after_the_priming_batch_the_first_window_has_no_rates_and_the_next_one_has() -> None:
    """The daemon's priming scrape is processed but never exported: the first exported batch stays a cold
    start's, as Go Heapster's first batch (no rates), with the disk counters' labeled rates too."""
    calc = RateCalculator()
    calc.apply(batch_at(1, counter_set(0, 0, T0 + timedelta(seconds=50), disk={"sda": 1000})))
    calc.primed()
    first = batch_at(2, counter_set(6_000_000_000, 600, T0 + timedelta(minutes=1), disk={"sda": 2000}))
    calc.apply(first)
    assert rates(first) == {}
    assert [m.name for m in first.metric_sets["node:a"].labeled] == ["disk/io_read_bytes"]
    second = batch_at(3, counter_set(12_000_000_000, 1200, T0 + timedelta(minutes=2), disk={"sda": 8000}))
    calc.apply(second)
    assert rates(second) == {"cpu/usage_rate": 100, "network/rx_rate": 10.0}
    assert {m.name: m.value for m in second.metric_sets["node:a"].labeled}["disk/io_read_bytes_rate"] == 100.0


def test_out_of_order_batches_do_not_corrupt_state() -> None:
    calc = RateCalculator()
    calc.apply(batch_at(1, counter_set(0, 0, T0 + timedelta(minutes=1))))
    late = batch_at(3, counter_set(12_000_000_000, 1200, T0 + timedelta(minutes=3)))
    calc.apply(late)
    assert rates(late) == {"cpu/usage_rate": 100, "network/rx_rate": 10.0}   # over the 2 minutes
    early = batch_at(2, counter_set(6_000_000_000, 600, T0 + timedelta(minutes=2)))
    calc.apply(early)                  # arrives after minute 3 (overlapping housekeeps)
    assert rates(early) == {}          # older than what is known: no rate, and state untouched
    again = batch_at(3, counter_set(12_000_000_000, 1200, T0 + timedelta(minutes=3)))
    calc.apply(again)                  # the same sample twice: no rate either
    assert rates(again) == {}
    nxt = batch_at(4, counter_set(18_000_000_000, 1800, T0 + timedelta(minutes=4)))
    calc.apply(nxt)
    assert rates(nxt) == {"cpu/usage_rate": 100, "network/rx_rate": 10.0}


def test_backwards_counter_and_restart_give_no_rate() -> None:
    calc = RateCalculator()
    calc.apply(batch_at(1, counter_set(5_000_000_000, 500, T0 + timedelta(minutes=1))))
    backwards = batch_at(2, counter_set(1_000_000_000, 800, T0 + timedelta(minutes=2)))
    calc.apply(backwards)
    assert rates(backwards) == {"network/rx_rate": 5.0}   # cpu went back: no cpu rate, rx still fine
    restarted = batch_at(3, counter_set(7_000_000_000, 900, T0 + timedelta(minutes=3), start=T0 + timedelta(minutes=2)))
    calc.apply(restarted)
    assert rates(restarted) == {}
    after = batch_at(4, counter_set(13_000_000_000, 1500, T0 + timedelta(minutes=4), start=T0 + timedelta(minutes=2)))
    calc.apply(after)
    assert rates(after) == {"cpu/usage_rate": 100, "network/rx_rate": 10.0}


def test_labeled_disk_rates_match_by_resource_id() -> None:
    calc = RateCalculator()
    calc.apply(batch_at(1, counter_set(0, 0, T0 + timedelta(minutes=1), disk={"sda": 1000, "sdb": 50_000})))
    second = batch_at(2, counter_set(0, 0, T0 + timedelta(minutes=2), disk={"sdb": 56_000, "sda": 7000, "sdc": 1}))
    calc.apply(second)
    found = {(m.name, m.labels["resource_id"]): m.value for m in second.metric_sets["node:a"].labeled
             if m.name.endswith("_rate")}
    assert found == {("disk/io_read_bytes_rate", "sda"): 100.0, ("disk/io_read_bytes_rate", "sdb"): 100.0}


def test_stale_samples_are_forgotten() -> None:
    calc = RateCalculator(max_gap=120)
    calc.apply(batch_at(1, counter_set(0, 0, T0 + timedelta(minutes=1))))
    calc.apply(DataBatch(T0 + timedelta(minutes=10), {}))
    back = batch_at(11, counter_set(60_000_000_000, 600, T0 + timedelta(minutes=11)))
    calc.apply(back)
    assert rates(back) == {}


# --- enrichers and aggregators -----------------------------------------------------------------------

POD = {
    "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "resourceVersion": "7", "labels": {"app": "web"}},
    "spec": {"nodeName": "n1", "containers": [
        {"name": "app", "image": "shop/app:1", "resources": {"requests": {"cpu": "250m", "memory": "64Mi",
                                                                          "nvidia.com/gpu": "1"},
                                                             "limits": {"cpu": "1", "nvidia.com/gpu": "1"}}},
        {"name": "sidecar", "image": "envoy:1"},
    ]},
    "status": {"startTime": "2026-01-01T11:00:00Z",
               "containerStatuses": [{"name": "app", "restartCount": 2}, {"name": "sidecar", "restartCount": 0}]},
}


def host(kind: str, **extra: str) -> dict[str, str]:
    return {"type": kind, "nodename": "n1", "hostname": "n1.example", "host_id": "i-1", **extra}


def test_pod_enricher_stubs_missing_pod_and_container() -> None:
    cluster = StaticCluster(pods=[POD])
    labels = host("pod_container", namespace_name="shop", pod_name="web", container_name="app")
    batch = DataBatch(T0, {"namespace:shop/pod:web/container:app": MetricSet(labels, {"cpu/usage_rate": MetricValue(5)},
                                                                            collection_start=T0)})
    PodBasedEnricher(cluster, LabelCopier()).apply(batch)
    assert sorted(batch.metric_sets) == ["namespace:shop/pod:web", "namespace:shop/pod:web/container:app",
                                         "namespace:shop/pod:web/container:sidecar"]
    app = batch.metric_sets["namespace:shop/pod:web/container:app"]
    assert {k: v.value for k, v in app.values.items()} == {
        "cpu/usage_rate": 5, "cpu/request": 250, "memory/request": 64 * 2**20, "ephemeral_storage/request": 0,
        "nvidia.com/gpu/request": 1, "cpu/limit": 1000, "memory/limit": 0, "ephemeral_storage/limit": 0,
        "restart_count": 2}
    assert app.labels["container_base_image"] == "shop/app:1" and app.labels["labels"] == "app:web"
    pod = batch.metric_sets["namespace:shop/pod:web"]
    assert pod.labels == host("pod", namespace_name="shop", pod_name="web", pod_id="u-1", labels="app:web")
    sidecar = batch.metric_sets["namespace:shop/pod:web/container:sidecar"]
    assert sidecar.labels["nodename"] == "n1" and sidecar.labels["container_base_image"] == "envoy:1"
    assert sidecar.values["cpu/request"].value == 0 and "restart_count" not in sidecar.values


def test_unknown_pods_and_namespaces_are_left_alone() -> None:
    cluster = StaticCluster(pods=[POD])
    labels = host("pod", namespace_name="other", pod_name="ghost")
    batch = DataBatch(T0, {"namespace:other/pod:ghost": MetricSet(dict(labels))})
    PodBasedEnricher(cluster).apply(batch)
    NamespaceBasedEnricher(cluster).apply(batch)
    assert batch.metric_sets["namespace:other/pod:ghost"].labels == labels
    assert list(batch.metric_sets) == ["namespace:other/pod:ghost"]


def test_pod_made_by_aggregator_keeps_nodename_so_node_gets_requests() -> None:
    labels = host("pod_container", namespace_name="shop", pod_name="web", pod_id="u-1")
    batch = DataBatch(T0, {
        "node:n1": MetricSet(host("node")),
        "namespace:shop/pod:web/container:a": MetricSet({**labels, "container_name": "a"}, {
            "cpu/request": MetricValue(100), "cpu/usage": MetricValue(10, C), "custom/qps": MetricValue(1.5)}),
        "namespace:shop/pod:web/container:b": MetricSet({**labels, "container_name": "b"}, {
            "cpu/request": MetricValue(150), "cpu/usage": MetricValue(20, C), "custom/qps": MetricValue(2)}),
    })
    PodAggregator().apply(batch)
    pod = batch.metric_sets["namespace:shop/pod:web"]
    assert pod.labels == {"type": "pod", "pod_id": "u-1", "pod_name": "web", "namespace_name": "shop",
                          "nodename": "n1", "hostname": "n1.example", "host_id": "i-1"}
    assert {k: v.value for k, v in pod.values.items()} == {"cpu/request": 250, "custom/qps": 3.5}  # no cpu/usage
    assert isinstance(pod.values["custom/qps"].value, float)
    NodeAggregator().apply(batch)
    assert batch.metric_sets["node:n1"].values["cpu/request"].value == 250
    # The containers' own values were not changed by summing.
    assert batch.metric_sets["namespace:shop/pod:web/container:a"].values["cpu/request"].value == 100


def test_pod_keeps_its_own_values() -> None:
    labels = host("pod_container", namespace_name="shop", pod_name="web")
    batch = DataBatch(T0, {
        "namespace:shop/pod:web": MetricSet(host("pod", namespace_name="shop", pod_name="web"),
                                            {"memory/usage": MetricValue(1000)}),
        "namespace:shop/pod:web/container:a": MetricSet(
            {**labels, "container_name": "a"}, {"memory/usage": MetricValue(300), "memory/rss": MetricValue(7)}),
        "namespace:shop/pod:web/container:b": MetricSet(
            {**labels, "container_name": "b"}, {"memory/usage": MetricValue(400), "memory/rss": MetricValue(8)}),
    })
    PodAggregator().apply(batch)
    values = batch.metric_sets["namespace:shop/pod:web"].values
    assert values["memory/usage"].value == 1000 and values["memory/rss"].value == 15


def test_enricher_factories_need_cluster_state() -> None:
    plugins = load_plugins()
    names = [p.name for p in plugins.build_processors(PluginContext())]
    assert names == ["rate calculator", "pod_aggregator", "namespace_aggregator", "node_aggregator",
                     "cluster_aggregator"]


def test_pod_enricher_skips_unchanged_pods_when_the_cluster_knows_versions() -> None:
    class Versioned(StaticCluster):
        def __init__(self) -> None:
            super().__init__(pods=[copy.deepcopy(POD)])
            self.fetched = 0

        def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
            self.fetched += 1
            return super().get_pod(namespace, name)

        def pod_version(self, namespace: str, name: str) -> str | None:
            pod = super().get_pod(namespace, name)
            return None if pod is None else pod["metadata"]["resourceVersion"]

    cluster = Versioned()
    enricher = PodBasedEnricher(cluster)

    def run() -> MetricSet:
        labels = host("pod_container", namespace_name="shop", pod_name="web", container_name="app")
        batch = DataBatch(T0, {"namespace:shop/pod:web/container:app": MetricSet(labels)})
        enricher.apply(batch)
        return batch.metric_sets["namespace:shop/pod:web/container:app"]

    assert run().values["cpu/request"].value == 250 and cluster.fetched == 1
    assert run().values["cpu/request"].value == 250 and cluster.fetched == 1   # same version: not fetched
    pod = cluster.pods[("shop", "web")]
    pod["metadata"]["resourceVersion"] = "8"
    pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "300m"
    assert run().values["cpu/request"].value == 300 and cluster.fetched == 2
    del cluster.pods[("shop", "web")]
    assert "cpu/request" not in run().values


def test_rates_are_the_same_whatever_the_row_order() -> None:
    """The steady path (the last batch's keys again, in the state's own order: slices, no look-up per key) gives
    what a calculator fed the same sets in a new order every batch gives, with counters going back, restarts,
    missing and late samples, floats and new and vanishing sets among them."""
    rng = np.random.default_rng(7)
    names = [f"node:n{i}" for i in range(40)]
    cpu = rng.integers(1, 10**9, len(names))
    rx = rng.random(len(names)) * 1e6
    steady, shuffled = RateCalculator(), RateCalculator()
    got: list[dict[str, tuple[object, ...]]] = [{}, {}]
    for minute in range(12):
        cpu = cpu + rng.integers(-10**6, 10**8, len(names))  # now and then backwards
        rx = rx + rng.random(len(names)) * 1e5
        sets = {}
        for i, key in enumerate(names):
            if minute in (4, 5) and i % 7 == 3:
                continue  # gone for a while: the rows of the batch are not the last batch's
            late = minute == 8 and i % 5 == 0
            values = {"cpu/usage": MetricValue(int(cpu[i]), C), "network/rx": MetricValue(float(rx[i]), C)}
            if i % 11 == 0:
                del values["cpu/usage"]  # a missing counter
            started = T0 + timedelta(minutes=1) if minute >= 6 and i % 9 == 0 else T0  # a restart at minute 6
            sets[key] = MetricSet({"type": "node"}, values, collection_start=started,
                                  scrape_time=T0 + timedelta(minutes=minute - 1 if late else minute, seconds=i))
        for calc, order, out in ((steady, list(sets), got[0]), (shuffled, list(rng.permutation(list(sets))), got[1])):
            batch = DataBatch(T0 + timedelta(minutes=minute), {key: sets[key] for key in order})
            calc.apply(batch)
            for key, found in batch.metric_sets.items():
                for name, mv in found.values.items():
                    if name.endswith("_rate"):
                        out[f"{minute} {key} {name}"] = (mv.value, type(mv.value))
    assert got[0] == got[1]
    assert len(got[0]) > 500


def test_node_autoscaling_gauges_follow_node_changes_across_batches() -> None:
    def node(name: str, version: str, cpu: str) -> dict[str, Any]:
        return {"metadata": {"name": name, "resourceVersion": version, "labels": {"zone": "z1"}},
                "status": {"capacity": {"cpu": "4", "memory": "8Gi"}, "allocatable": {"cpu": cpu, "memory": "6Gi"}}}

    def window(minute: int, usage: int) -> DataBatch:
        return DataBatch(T0 + timedelta(minutes=minute), {
            f"node:{name}": MetricSet(host("node", nodename=name), {"cpu/usage_rate": MetricValue(usage),
                                                                    "memory/usage": MetricValue(3 << 30)})
            for name in ("n1", "n2")})

    def gauges(batch: DataBatch) -> dict[str, dict[str, float]]:
        return {key: {name: value.value for name, value in found.values.items() if "node_" in name}
                for key, found in batch.metric_sets.items()}

    cluster = StaticCluster([node("n1", "1", "2"), node("n2", "1", "3")])
    kept = NodeAutoscalingEnricher(cluster)
    for minute, change in enumerate((None, None, ("n2", "2", "1500m"), None, ("n1", "2", "0"), None)):
        if change is not None:
            cluster.nodes[change[0]] = node(*change)
        batch, fresh = window(minute, 500 + minute), window(minute, 500 + minute)
        kept.apply(batch)
        NodeAutoscalingEnricher(cluster).apply(fresh)
        assert gauges(batch) == gauges(fresh)
        assert list(batch.columns.values) == list(fresh.columns.values)
    assert gauges(batch)["node:n2"]["cpu/node_utilization"] == 505 / 1500
    assert "cpu/node_utilization" not in gauges(batch)["node:n1"]  # allocatable 0: no utilization
