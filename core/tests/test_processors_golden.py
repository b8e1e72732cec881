"""Golden test: the fixture kubelet summary, pods and node through Heapster's whole processor chain.

Every derived value is checked against numbers worked out by hand from the fixtures
(tests/fixtures): rates from chosen counter increments over 60 s, requests and limits
from the pod specs, aggregates as explicit sums, node utilization and reservation as ratios.
"""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import timedelta
from typing import Any

import pytest

from heapster.interfaces import PluginContext, Processor
from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricType, MetricValue
from heapster.plugins import load_plugins
from heapster.testing.cluster import StaticCluster
from heapster.testing.fixtures import FIXTURES, pod_of, shifted
from heapster.timefmt import parse_rfc3339

NODE = "datagen-1-35"
C, G = MetricType.CUMULATIVE, MetricType.GAUGE
MI = 1024 * 1024

# --- the fixture summary as metric sets (HEAPSTER.md §4.1) -------------------------------------------


def _time(*stats: dict[str, Any] | None) -> Any:
    for stat in stats:
        if stat and stat.get("time"):
            return parse_rfc3339(stat["time"])
    return None


def _cpu_memory(values: dict[str, MetricValue], cpu: dict[str, Any] | None, memory: dict[str, Any] | None) -> None:
    if cpu and "usageCoreNanoSeconds" in cpu:
        values["cpu/usage"] = MetricValue(cpu["usageCoreNanoSeconds"], C)
    for field, name, kind in (("usageBytes", "memory/usage", G), ("workingSetBytes", "memory/working_set", G),
                              ("rssBytes", "memory/rss", G), ("pageFaults", "memory/page_faults", C),
                              ("majorPageFaults", "memory/major_page_faults", C)):
        if memory and field in memory:
            values[name] = MetricValue(memory[field], kind)


def _network(values: dict[str, MetricValue], network: dict[str, Any] | None) -> None:
    for field, name in (("rxBytes", "network/rx"), ("rxErrors", "network/rx_errors"), ("txBytes", "network/tx"),
                        ("txErrors", "network/tx_errors")):
        if network and field in network:
            values[name] = MetricValue(network[field], C)


def _fs(fs: dict[str, Any] | None, resource_id: str) -> list[LabeledMetric]:
    if not fs:
        return []
    return [LabeledMetric(name, {"resource_id": resource_id}, fs[field], G) for field, name in (
        ("usedBytes", "filesystem/usage"), ("capacityBytes", "filesystem/limit"),
        ("availableBytes", "filesystem/available"), ("inodes", "filesystem/inodes"),
        ("inodesFree", "filesystem/inodes_free")) if field in fs]


def summary_sets(summary: dict[str, Any]) -> dict[str, MetricSet]:
    """The metric sets Heapster's summary source makes of a /stats/summary body (no uptime)."""
    node = summary["node"]
    host = {"nodename": NODE, "hostname": NODE, "host_id": ""}
    sets: dict[str, MetricSet] = {}
    values: dict[str, MetricValue] = {}
    _cpu_memory(values, node.get("cpu"), node.get("memory"))
    _network(values, node.get("network"))
    values["ephemeral_storage/usage"] = MetricValue(node["fs"]["usedBytes"], G)
    sets[f"node:{node['nodeName']}"] = MetricSet(
        {**host, "type": "node"}, values, _fs(node.get("fs"), "/"), parse_rfc3339(node["startTime"]),
        scrape_time=_time(node.get("cpu"), node.get("memory"), node.get("network")))
    for sys in node.get("systemContainers", []):
        values = {}
        _cpu_memory(values, sys.get("cpu"), sys.get("memory"))
        sets[f"node:{node['nodeName']}/container:{sys['name']}"] = MetricSet(
            {**host, "type": "sys_container", "container_name": sys["name"]}, values, [],
            parse_rfc3339(sys["startTime"]), scrape_time=_time(sys.get("cpu"), sys.get("memory")))
    for pod in summary["pods"]:
        ref = pod["podRef"]
        pod_labels = {**host, "pod_name": ref["name"], "namespace_name": ref["namespace"], "pod_id": ref["uid"]}
        values = {}
        _network(values, pod.get("network"))
        _cpu_memory(values, pod.get("cpu"), pod.get("memory"))
        values["ephemeral_storage/usage"] = MetricValue(pod["ephemeral-storage"]["usedBytes"], G)
        labeled = [m for vol in pod.get("volume", []) for m in _fs(vol, "Volume:" + vol["name"])]
        sets[f"namespace:{ref['namespace']}/pod:{ref['name']}"] = MetricSet(
            {**pod_labels, "type": "pod"}, values, labeled, parse_rfc3339(pod["startTime"]),
            scrape_time=_time(pod.get("network")))
        for container in pod["containers"]:
            values = {}
            _cpu_memory(values, container.get("cpu"), container.get("memory"))
            values["ephemeral_storage/usage"] = MetricValue(
                container["rootfs"]["usedBytes"] + container["logs"]["usedBytes"], G)
            sets[f"namespace:{ref['namespace']}/pod:{ref['name']}/container:{container['name']}"] = MetricSet(
                {**pod_labels, "type": "pod_container", "container_name": container["name"]}, values,
                _fs(container.get("rootfs"), "/") + _fs(container.get("logs"), "logs"),
                parse_rfc3339(container["startTime"]), scrape_time=_time(container.get("cpu"), container.get("memory")))
    return sets


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def summaries() -> list[dict[str, Any]]:
    """Three scrapes 60 s apart: the fixture, then chosen increments, then a reset and a restart."""
    first = json.loads((FIXTURES / "kubelet-stats-summary-v1.35.json").read_text())
    # The HPA pod is missing from the first scrape: no previous sample, so no rates in the second.
    first_without_hpa = copy.deepcopy(first)
    first_without_hpa["pods"] = [p for p in first["pods"] if not p["podRef"]["name"].startswith("e2e-hpa")]

    second = shifted(first, 60)
    node = second["node"]
    node["cpu"]["usageCoreNanoSeconds"] += 30_000_000_000
    node["memory"]["pageFaults"] += 1200
    node["network"]["rxBytes"] += 6_000_000
    node["network"]["txBytes"] += 600_000
    coredns = pod_of(second, "coredns")
    coredns["cpu"]["usageCoreNanoSeconds"] += 1_300_000_000
    coredns["network"]["rxBytes"] += 120
    coredns["network"]["txBytes"] += 60
    coredns["containers"][0]["cpu"]["usageCoreNanoSeconds"] += 1_234_567_890
    coredns["containers"][0]["memory"]["pageFaults"] += 30
    kindnet = pod_of(second, "kindnet")
    kindnet["cpu"]["usageCoreNanoSeconds"] += 3_100_000_000
    kindnet["containers"][0]["cpu"]["usageCoreNanoSeconds"] += 3_000_000_000

    third = shifted(second, 60)
    third["node"]["cpu"]["usageCoreNanoSeconds"] += 7_000_000_000
    coredns = pod_of(third, "coredns")
    coredns["containers"][0]["cpu"]["usageCoreNanoSeconds"] = 1000  # went backwards, same start: a reset
    coredns["containers"][0]["memory"]["pageFaults"] += 60
    kindnet = pod_of(third, "kindnet")
    kindnet["containers"][0]["startTime"] = "2026-06-26T10:16:00Z"  # restarted
    kindnet["containers"][0]["cpu"]["usageCoreNanoSeconds"] = 5_000_000
    return [first_without_hpa, second, third]


@pytest.fixture(scope="module")
def cluster() -> StaticCluster:
    state = StaticCluster.from_yaml(FIXTURES / "nodes-v1.35-kubectl-list.yaml",
                                    FIXTURES / "pods-v1.35-kubectl-list.yaml")
    coredns = state.get_pod("kube-system", "coredns-7d764666f9-qdcxt")
    assert coredns is not None
    coredns["status"]["containerStatuses"][0]["restartCount"] = 3
    return state


@pytest.fixture(scope="module")
def chain(cluster: StaticCluster) -> list[Processor]:
    settings = {"label_separator": ";", "ignore_label": ["pod-template-hash"], "store_label": ["app=k8s-app"],
                "metric_resolution": 60.0}
    processors = load_plugins().build_processors(PluginContext(settings=settings, cluster=cluster))
    return processors


async def run_chain(chain: list[Processor], batch: DataBatch) -> DataBatch:
    for processor in chain:
        batch = await processor.process(batch)
    return batch


@pytest.fixture(scope="module")
def batches(summaries: list[dict[str, Any]], chain: list[Processor]) -> list[DataBatch]:
    out = []
    for summary in summaries:
        stamp = parse_rfc3339(summary["node"]["cpu"]["time"]).replace(second=0) + timedelta(minutes=1)
        out.append(asyncio.run(run_chain(chain, DataBatch(stamp, summary_sets(summary)))))
    return out


def value(batch: DataBatch, key: str, name: str) -> int | float | None:
    found = batch.metric_sets[key].values.get(name)
    return None if found is None else found.value


def exact(got: object, expected: int | float) -> None:
    """Equal and of the same type (an int must not become a float, nor the reverse)."""
    assert got == expected and type(got) is type(expected), (got, expected)


NODE_KEY = f"node:{NODE}"
COREDNS = "namespace:kube-system/pod:coredns-7d764666f9-qdcxt"
KINDNET = "namespace:kube-system/pod:kindnet-zkpn8"
HPA = "namespace:scraper/pod:e2e-hpa-6cd8d99884-tggnr"
ETCD = "namespace:kube-system/pod:etcd-datagen-1-35"


# --- the chain itself --------------------------------------------------------------------------------


def test_chain_is_heapsters_order(chain: list[Processor]) -> None:
    assert [p.name for p in chain] == [
        "rate calculator", "pod_based_enricher", "namespace_based_enricher", "pod_aggregator",
        "namespace_aggregator", "node_aggregator", "cluster_aggregator", "node_autoscaling_enricher",
    ]


def test_first_batch_has_no_rates(batches: list[DataBatch]) -> None:
    rates = [(key, name) for key, ms in batches[0].metric_sets.items() for name in ms.values
             if name.endswith("_rate") and ms.labels.get("type") in ("node", "pod_container", "sys_container")]
    assert rates == []
    # Pods and namespaces get no rate either: nothing to sum.
    assert value(batches[0], COREDNS, "cpu/usage_rate") is None
    assert value(batches[0], "cluster", "cpu/usage_rate") is None


# --- rates -------------------------------------------------------------------------------------------


def test_node_rates(batches: list[DataBatch]) -> None:
    second = batches[1]
    exact(value(second, NODE_KEY, "cpu/usage_rate"), 500)          # 1000 * 30e9 ns // 60e9 ns
    exact(value(second, NODE_KEY, "memory/page_faults_rate"), 20.0)  # 1200 / 60 s
    exact(value(second, NODE_KEY, "memory/major_page_faults_rate"), 0.0)
    exact(value(second, NODE_KEY, "network/rx_rate"), 100000.0)    # 6e6 B / 60 s
    exact(value(second, NODE_KEY, "network/tx_rate"), 10000.0)     # 6e5 B / 60 s
    exact(value(second, NODE_KEY, "network/rx_errors_rate"), 0.0)
    exact(value(second, NODE_KEY, "network/tx_errors_rate"), 0.0)
    exact(value(batches[2], NODE_KEY, "cpu/usage_rate"), 116)      # 1000 * 7e9 // 60e9 = 116.67 truncated


def test_container_and_pod_rates(batches: list[DataBatch]) -> None:
    second = batches[1]
    exact(value(second, COREDNS + "/container:coredns", "cpu/usage_rate"), 20)   # 1234.56789 ms/s truncated
    exact(value(second, COREDNS + "/container:coredns", "memory/page_faults_rate"), 0.5)  # 30 / 60
    exact(value(second, KINDNET + "/container:kindnet-cni", "cpu/usage_rate"), 50)   # 3e9 * 1000 // 60e9
    # Pods have their own counters (scrape time = network time), so their rates are their own.
    exact(value(second, COREDNS, "cpu/usage_rate"), 21)       # 1.3e9 * 1000 // 60e9 = 21.67
    exact(value(second, COREDNS, "network/rx_rate"), 2.0)     # 120 / 60
    exact(value(second, COREDNS, "network/tx_rate"), 1.0)     # 60 / 60
    exact(value(second, KINDNET, "cpu/usage_rate"), 51)       # 3.1e9 * 1000 // 60e9 = 51.67
    # etcd's counters did not move: a rate of 0, not a missing one.
    exact(value(second, ETCD, "cpu/usage_rate"), 0)


def test_missing_previous_sample_gives_no_rate(batches: list[DataBatch]) -> None:
    second = batches[1]
    assert value(second, HPA + "/container:php-apache", "cpu/usage_rate") is None
    assert value(second, HPA, "cpu/usage_rate") is None
    assert value(second, HPA, "network/rx_rate") is None
    # The next scrape has a previous sample: counters did not move, so the rate is 0.
    exact(value(batches[2], HPA + "/container:php-apache", "cpu/usage_rate"), 0)


def test_counter_reset_gives_no_rate(batches: list[DataBatch]) -> None:
    third = batches[2]
    coredns = COREDNS + "/container:coredns"
    assert value(third, coredns, "cpu/usage_rate") is None       # went backwards: no rate, never negative
    exact(value(third, coredns, "memory/page_faults_rate"), 1.0)  # the other counters still have one (60/60)
    kindnet = KINDNET + "/container:kindnet-cni"
    rates = [name for name in third.metric_sets[kindnet].values if name.endswith("_rate")]
    assert rates == []                                             # changed start time: a restart


def test_no_rate_is_ever_negative(batches: list[DataBatch]) -> None:
    for batch in batches:
        for ms in batch.metric_sets.values():
            for name, mv in ms.values.items():
                if name.endswith("_rate"):
                    assert mv.value >= 0, name


# --- pod enricher ------------------------------------------------------------------------------------


def test_requests_limits_and_labels_from_pod_spec(batches: list[DataBatch]) -> None:
    second = batches[1]
    coredns = second.metric_sets[COREDNS + "/container:coredns"]
    exact(coredns.values["cpu/request"].value, 100)
    exact(coredns.values["memory/request"].value, 70 * MI)           # 73400320
    exact(coredns.values["cpu/limit"].value, 0)
    exact(coredns.values["memory/limit"].value, 170 * MI)            # 178257920
    exact(coredns.values["ephemeral_storage/request"].value, 0)
    exact(coredns.values["ephemeral_storage/limit"].value, 0)
    exact(coredns.values["restart_count"].value, 3)
    assert coredns.create_time == parse_rfc3339("2026-06-26T10:12:39Z")  # pod status.startTime
    assert coredns.labels["container_base_image"] == "registry.k8s.io/coredns/coredns:v1.13.1"
    assert coredns.labels["labels"] == "k8s-app:kube-dns"            # pod-template-hash ignored
    assert coredns.labels["app"] == "kube-dns"                       # --store_label app=k8s-app
    assert coredns.labels["pod_id"] == "36447428-81f8-45eb-b825-414de2e8012b"
    assert coredns.labels["namespace_id"] == "ns-kube-system"
    hpa = second.metric_sets[HPA + "/container:php-apache"].values
    exact(hpa["cpu/request"].value, 200)
    exact(hpa["cpu/limit"].value, 500)
    exact(hpa["memory/request"].value, 0)
    kindnet = second.metric_sets[KINDNET + "/container:kindnet-cni"].values
    assert (kindnet["cpu/request"].value, kindnet["cpu/limit"].value) == (100, 100)
    assert (kindnet["memory/request"].value, kindnet["memory/limit"].value) == (50 * MI, 50 * MI)
    proxy = second.metric_sets["namespace:kube-system/pod:kube-proxy-8k9zt/container:kube-proxy"].values
    assert [proxy[n].value for n in ("cpu/request", "cpu/limit", "memory/request", "memory/limit")] == [0, 0, 0, 0]
    pod = second.metric_sets[COREDNS]
    assert pod.labels["labels"] == "k8s-app:kube-dns" and pod.labels["app"] == "kube-dns"
    assert pod.labels["namespace_id"] == "ns-kube-system"


# --- aggregators -------------------------------------------------------------------------------------


def test_pod_aggregation(batches: list[DataBatch]) -> None:
    pod = batches[1].metric_sets[COREDNS].values
    exact(pod["cpu/request"].value, 100)
    exact(pod["memory/limit"].value, 170 * MI)
    exact(pod["restart_count"].value, 3)
    exact(pod["memory/usage"].value, 16273408)        # the pod's own value is kept, not the container sum
    assert "cpu/usage" in pod and pod["cpu/usage"].value == 179435000 + 1_300_000_000  # not a container sum


# coredns, etcd, kindnet, apiserver, controller-manager, kube-proxy, scheduler, metrics-server, storage-provisioner
KUBE_SYSTEM_CPU_REQUEST = 100 + 100 + 100 + 250 + 200 + 0 + 100 + 100 + 0
KUBE_SYSTEM_MEMORY_REQUEST = (70 + 100 + 50 + 200) * MI
KUBE_SYSTEM_MEMORY_LIMIT = (170 + 50) * MI
SCRAPER_CPU_REQUEST = 5 * 40 + 200      # five compute-pi-digits pods and the HPA pod
SCRAPER_CPU_LIMIT = 5 * 80 + 500
SCRAPER_MEMORY_REQUEST = 5 * 15 * MI
SCRAPER_MEMORY_LIMIT = 5 * 30 * MI
KUBE_SYSTEM_MEMORY_USAGE = (66478080 + 24023040 + 19046400 + 47996928 + 14209024 + 22384640 + 222068736
                            + 16273408 + 12296192)  # pod-level usageBytes of the nine kube-system pods


def test_namespace_aggregation(batches: list[DataBatch]) -> None:
    second = batches[1]
    ns = second.metric_sets["namespace:kube-system"]
    assert ns.labels == {"type": "ns", "namespace_name": "kube-system", "namespace_id": "ns-kube-system"}
    exact(ns.values["cpu/request"].value, KUBE_SYSTEM_CPU_REQUEST)
    exact(ns.values["cpu/limit"].value, 100)
    exact(ns.values["memory/request"].value, KUBE_SYSTEM_MEMORY_REQUEST)
    exact(ns.values["memory/limit"].value, KUBE_SYSTEM_MEMORY_LIMIT)
    exact(ns.values["cpu/usage_rate"].value, 21 + 51)   # coredns and kindnet moved; the other pods' rates are 0
    exact(ns.values["memory/usage"].value, KUBE_SYSTEM_MEMORY_USAGE)
    scraper = second.metric_sets["namespace:scraper"].values
    exact(scraper["cpu/request"].value, SCRAPER_CPU_REQUEST)
    exact(scraper["cpu/limit"].value, SCRAPER_CPU_LIMIT)
    exact(scraper["memory/request"].value, SCRAPER_MEMORY_REQUEST)
    exact(scraper["memory/limit"].value, SCRAPER_MEMORY_LIMIT)


def test_cluster_aggregation(batches: list[DataBatch]) -> None:
    cluster = batches[1].metric_sets["cluster"]
    assert cluster.labels == {"type": "cluster"}
    exact(cluster.values["cpu/request"].value, KUBE_SYSTEM_CPU_REQUEST + SCRAPER_CPU_REQUEST)  # 1350
    exact(cluster.values["cpu/limit"].value, 100 + SCRAPER_CPU_LIMIT)                          # 1000
    exact(cluster.values["memory/request"].value, KUBE_SYSTEM_MEMORY_REQUEST + SCRAPER_MEMORY_REQUEST)
    exact(cluster.values["memory/limit"].value, KUBE_SYSTEM_MEMORY_LIMIT + SCRAPER_MEMORY_LIMIT)
    assert set(cluster.values) == {"cpu/request", "cpu/limit", "memory/request", "memory/limit", "cpu/usage_rate",
                                   "memory/usage"}


def test_node_aggregation_and_autoscaling(batches: list[DataBatch]) -> None:
    first, second = batches[0], batches[1]
    node = second.metric_sets[NODE_KEY]
    exact(node.values["cpu/request"].value, 1350)
    exact(node.values["cpu/limit"].value, 1000)
    exact(node.values["memory/request"].value, 495 * MI)          # 519045120
    exact(node.values["memory/limit"].value, 370 * MI)            # 387973120
    exact(node.values["ephemeral_storage/request"].value, 0)
    exact(node.values["cpu/node_capacity"].value, 14000.0)
    exact(node.values["cpu/node_allocatable"].value, 14000.0)
    exact(node.values["cpu/node_utilization"].value, 500 / 14000)    # 0.0357...
    exact(node.values["cpu/node_reservation"].value, 1350 / 14000)   # 0.0964...
    allocatable = 8024304 * 1024                                     # 8024304Ki = 8216887296 bytes
    exact(node.values["memory/node_capacity"].value, float(allocatable))
    exact(node.values["memory/node_allocatable"].value, float(allocatable))
    exact(node.values["memory/node_utilization"].value, 3080323072 / allocatable)
    exact(node.values["memory/node_reservation"].value, 495 * MI / allocatable)
    disk = 954976684 * 1024                                          # 977896124416 bytes
    exact(node.values["ephemeral_storage/node_capacity"].value, float(disk))
    exact(node.values["ephemeral_storage/node_utilization"].value, 106943070208 / disk)
    exact(node.values["ephemeral_storage/node_reservation"].value, 0.0)
    assert node.labels["labels"].startswith("beta.kubernetes.io/arch:arm64;beta.kubernetes.io/os:linux;")
    # The first batch had no HPA pod and no rate yet: missing inputs count as 0.
    exact(first.metric_sets[NODE_KEY].values["cpu/node_reservation"].value, 1150 / 14000)
    exact(first.metric_sets[NODE_KEY].values["cpu/node_utilization"].value, 0.0)


def test_labeled_metrics_pass_through(batches: list[DataBatch]) -> None:
    root = [m for m in batches[1].metric_sets[NODE_KEY].labeled if m.name == "filesystem/usage"]
    assert [(m.labels, m.value) for m in root] == [({"resource_id": "/"}, 106943070208)]
