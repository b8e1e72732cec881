"""Decoding real kubelet summaries, value by value, against expectations computed by hand."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from heapster.model import LabeledMetric, MetricSet, MetricType, MetricValue
from heapster.testing.fixtures import FIXTURES
from heapster_source_kubernetes.summary import (
    NodeInfo,
    SummaryError,
    SummaryShapes,
    decode_summary,
    decode_summary_columns,
)

C, G, D = MetricType.CUMULATIVE, MetricType.GAUGE, MetricType.DELTA


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _fs(resource_id: str, used: int, capacity: int, available: int, inodes: int, free: int) -> list[LabeledMetric]:
    labels = {"resource_id": resource_id}
    return [
        LabeledMetric("filesystem/usage", labels, used, G),
        LabeledMetric("filesystem/limit", labels, capacity, G),
        LabeledMetric("filesystem/available", labels, available, G),
        LabeledMetric("filesystem/inodes", labels, inodes, G),
        LabeledMetric("filesystem/inodes_free", labels, free, G),
    ]


def _values(ms: MetricSet) -> dict[str, MetricValue]:
    return ms.values


# --- v1.35 (minikube, containerd) ------------------------------------------------------------

NOW_135 = _ts("2026-06-26T10:15:00+00:00")
NODE_135 = NodeInfo("datagen-1-35", "datagen-1-35.host", "i-0abc")


@pytest.fixture(scope="module")
def sets_135() -> dict[str, MetricSet]:
    raw = (FIXTURES / "kubelet-stats-summary-v1.35.json").read_bytes()
    return decode_summary(raw, NODE_135, NOW_135)


def test_v135_keys_cover_node_system_containers_pods_and_containers(sets_135: dict[str, MetricSet]) -> None:
    summary = _load("kubelet-stats-summary-v1.35.json")
    expected = {"node:datagen-1-35", "node:datagen-1-35/container:kubelet", "node:datagen-1-35/container:pods"}
    for pod in summary["pods"]:
        ns, name = pod["podRef"]["namespace"], pod["podRef"]["name"]
        expected.add(f"namespace:{ns}/pod:{name}")
        expected.update(f"namespace:{ns}/pod:{name}/container:{c['name']}" for c in pod["containers"])
    assert set(sets_135) == expected
    assert len(expected) == 3 + 17 + 17


def test_v135_node(sets_135: dict[str, MetricSet]) -> None:
    node = sets_135["node:datagen-1-35"]
    assert node.labels == {"type": "node", "nodename": "datagen-1-35", "hostname": "datagen-1-35.host",
                           "host_id": "i-0abc"}
    # startTime 09:18:15, now 10:15:00 -> 56 min 45 s.
    assert node.values == {
        "uptime": MetricValue(3_405_000, C),
        "cpu/usage": MetricValue(62148052000, C),
        "memory/usage": MetricValue(3080323072, G),
        "memory/working_set": MetricValue(917110784, G),
        "memory/rss": MetricValue(710361088, G),
        "memory/page_faults": MetricValue(871539, C),
        "memory/major_page_faults": MetricValue(6, C),
        "network/rx": MetricValue(772921510, C),
        "network/rx_errors": MetricValue(0, C),
        "network/tx": MetricValue(13888023, C),
        "network/tx_errors": MetricValue(0, C),
        "ephemeral_storage/usage": MetricValue(106943070208, G),
    }
    assert node.labeled == _fs("/", 106943070208, 977896124416, 821203210240, 60710912, 59206606)
    assert node.collection_start == datetime(2026, 6, 26, 9, 18, 15, tzinfo=UTC)
    assert node.scrape_time == datetime(2026, 6, 26, 10, 14, 35, tzinfo=UTC)


def test_v135_system_containers(sets_135: dict[str, MetricSet]) -> None:
    kubelet = sets_135["node:datagen-1-35/container:kubelet"]
    assert kubelet.labels == {"type": "sys_container", "container_name": "kubelet", "nodename": "datagen-1-35",
                              "hostname": "datagen-1-35.host", "host_id": "i-0abc"}
    assert kubelet.values == {
        "uptime": MetricValue(167_000, C),  # 10:12:13 -> 10:15:00
        "cpu/usage": MetricValue(3492960000, C),
        "memory/usage": MetricValue(52330496, G),
        "memory/working_set": MetricValue(51752960, G),
        "memory/rss": MetricValue(47542272, G),
        "memory/page_faults": MetricValue(10296, C),
        "memory/major_page_faults": MetricValue(0, C),
    }
    assert kubelet.labeled == []
    assert kubelet.scrape_time == datetime(2026, 6, 26, 10, 14, 31, tzinfo=UTC)
    pods = sets_135["node:datagen-1-35/container:pods"]
    assert pods.values["cpu/usage"] == MetricValue(32254311000, C)
    assert pods.values["memory/rss"] == MetricValue(509300736, G)


def test_v135_pod_with_volumes(sets_135: dict[str, MetricSet]) -> None:
    pod = sets_135["namespace:kube-system/pod:kube-proxy-8k9zt"]
    assert pod.labels == {"type": "pod", "pod_id": "90565722-42c8-4f10-a59b-c8fc6571e86d",
                          "pod_name": "kube-proxy-8k9zt", "namespace_name": "kube-system",
                          "nodename": "datagen-1-35", "hostname": "datagen-1-35.host", "host_id": "i-0abc"}
    assert pod.values == {
        "uptime": MetricValue(161_000, C),  # 10:12:19 -> 10:15:00
        "network/rx": MetricValue(772918239, C),
        "network/rx_errors": MetricValue(0, C),
        "network/tx": MetricValue(13806539, C),
        "network/tx_errors": MetricValue(0, C),
        "cpu/usage": MetricValue(255321000, C),
        "memory/usage": MetricValue(19046400, G),
        "memory/working_set": MetricValue(18997248, G),
        "memory/rss": MetricValue(17776640, G),
        "memory/page_faults": MetricValue(23355, C),
        "memory/major_page_faults": MetricValue(0, C),
        "ephemeral_storage/usage": MetricValue(90112, G),
    }
    assert pod.labeled == (
        _fs("Volume:kube-proxy", 16384, 977896124416, 821203767296, 60710912, 59206661)
        + _fs("Volume:kube-api-access-gzxxs", 12288, 8216887296, 8216875008, 1003038, 1003029)
    )
    assert pod.scrape_time == datetime(2026, 6, 26, 10, 14, 24, tzinfo=UTC)  # network time only
    assert pod.collection_start == datetime(2026, 6, 26, 10, 12, 19, tzinfo=UTC)


def test_v135_pod_container(sets_135: dict[str, MetricSet]) -> None:
    c = sets_135["namespace:kube-system/pod:kube-proxy-8k9zt/container:kube-proxy"]
    assert c.labels == {"type": "pod_container", "container_name": "kube-proxy",
                        "pod_id": "90565722-42c8-4f10-a59b-c8fc6571e86d", "pod_name": "kube-proxy-8k9zt",
                        "namespace_name": "kube-system", "nodename": "datagen-1-35",
                        "hostname": "datagen-1-35.host", "host_id": "i-0abc"}
    assert c.values == {
        "uptime": MetricValue(161_000, C),
        "cpu/usage": MetricValue(250800000, C),
        "memory/usage": MetricValue(18788352, G),
        "memory/working_set": MetricValue(18755584, G),
        "memory/rss": MetricValue(17735680, G),
        "memory/page_faults": MetricValue(22582, C),
        "memory/major_page_faults": MetricValue(0, C),
        "ephemeral_storage/usage": MetricValue(65536 + 4096, G),  # rootfs + logs
    }
    assert c.labeled == (_fs("/", 65536, 977896124416, 821203210240, 60710912, 59206606)
                         + _fs("logs", 4096, 977896124416, 821203210240, 60710912, 59206606))
    assert c.scrape_time == datetime(2026, 6, 26, 10, 14, 37, tzinfo=UTC)
    assert "network/rx" not in c.values  # network is never per container



@pytest.mark.parametrize("cpu", [None, {"usageCoreNanoSeconds": 5}, {"time": 3, "usageCoreNanoSeconds": 5}],
                         ids=["no-cpu", "cpu-without-time", "cpu-time-not-text"])
def test_a_container_without_a_cpu_time_is_sampled_at_its_memory_time(cpu: dict[str, Any] | None) -> None:
    summary = _load("kubelet-stats-summary-v1.35.json")
    pod = next(p for p in summary["pods"] if p["podRef"]["name"] == "kube-proxy-8k9zt")
    container, system = pod["containers"][0], summary["node"]["systemContainers"][0]
    for entity in (container, system):
        entity["memory"]["time"] = "2026-06-26T10:14:11Z"
        if cpu is None:
            del entity["cpu"]
        else:
            entity["cpu"] = cpu
    sets = decode_summary(orjson.dumps(summary), NODE_135, NOW_135)
    kube_proxy = sets["namespace:kube-system/pod:kube-proxy-8k9zt/container:kube-proxy"]
    assert kube_proxy.scrape_time == datetime(2026, 6, 26, 10, 14, 11, tzinfo=UTC)
    assert kube_proxy.values["memory/usage"] == MetricValue(18788352, G)
    assert sets[f"node:datagen-1-35/container:{system['name']}"].scrape_time == datetime(2026, 6, 26, 10, 14, 11,
                                                                                        tzinfo=UTC)
    # The pod is sampled at its network time, as before.
    assert sets["namespace:kube-system/pod:kube-proxy-8k9zt"].scrape_time == datetime(2026, 6, 26, 10, 14, 24,
                                                                                      tzinfo=UTC)


# --- 2018 minikube (Heapster's era: runtime system container, userDefinedMetrics: null) ---------

NOW_2018 = _ts("2018-03-02T13:43:00+00:00")
NODE_2018 = NodeInfo("minikube", "minikube", "")


@pytest.fixture(scope="module")
def sets_2018() -> dict[str, MetricSet]:
    return decode_summary((FIXTURES / "kubelet-stats-summary-2018-minikube.json").read_bytes(), NODE_2018, NOW_2018)


def test_2018_runtime_is_renamed_docker_daemon(sets_2018: dict[str, MetricSet]) -> None:
    assert "node:minikube/container:runtime" not in sets_2018
    runtime = sets_2018["node:minikube/container:docker-daemon"]
    assert runtime.labels["container_name"] == "docker-daemon"
    assert runtime.labels["type"] == "sys_container"
    assert runtime.values["cpu/usage"] == MetricValue(2578975350403, C)
    assert runtime.values["memory/working_set"] == MetricValue(83607552, G)
    assert runtime.values["memory/major_page_faults"] == MetricValue(10, C)
    # 2018-02-28T16:49:34 -> 2018-03-02T13:43:00 = 1 d 20 h 53 min 26 s
    assert runtime.values["uptime"] == MetricValue(((24 + 20) * 3600 + 53 * 60 + 26) * 1000, C)
    kubelet = sets_2018["node:minikube/container:kubelet"]
    assert kubelet.values["cpu/usage"] == MetricValue(3339474140194, C)
    assert not any(k.startswith("custom/") for k in kubelet.values)  # userDefinedMetrics: null


def test_2018_node_uses_default_interface_not_the_sum(sets_2018: dict[str, MetricSet]) -> None:
    node = sets_2018["node:minikube"]
    assert node.values["network/rx"] == MetricValue(1507694406, C)  # eth0 only; eth1 is not added
    assert node.values["network/tx_errors"] == MetricValue(0, C)
    assert node.values["memory/usage"] == MetricValue(1843650560, G)
    assert node.values["ephemeral_storage/usage"] == MetricValue(1355673600, G)
    assert node.labeled == _fs("/", 1355673600, 17293533184, 14924988416, 9732096, 9713372)


def test_2018_pod_volumes_and_container(sets_2018: dict[str, MetricSet]) -> None:
    pod = sets_2018["namespace:kube-system/pod:influxdb-grafana-rsmwp"]
    assert pod.labeled == (
        _fs("Volume:grafana-storage", 413696, 17293533184, 14925000704, 9732096, 9713372)
        + _fs("Volume:influxdb-storage", 5853184, 17293533184, 14925000704, 9732096, 9713372)
        + _fs("Volume:default-token-mmlq2", 12288, 1048600576, 1048588288, 256006, 255997)
    )
    assert pod.values["ephemeral_storage/usage"] == MetricValue(6496256, G)
    assert pod.values["network/rx"] == MetricValue(62875272, C)
    heapster = sets_2018["namespace:kube-system/pod:heapster-5mz5f/container:heapster"]
    assert heapster.values["cpu/usage"] == MetricValue(15912744808, C)
    assert heapster.values["memory/rss"] == MetricValue(16740352, G)
    assert heapster.values["ephemeral_storage/usage"] == MetricValue(24576 + 24576, G)
    assert heapster.labels["pod_id"] == "bb142c1b-11a3-11e8-a084-080027352a02"


# --- variations on a copy of the fixture ------------------------------------------------------

def _decode(summary: dict[str, Any], now: float = NOW_2018) -> dict[str, MetricSet]:
    return decode_summary(orjson.dumps(summary), NODE_2018, now)


def test_duplicate_container_keeps_the_newest_start() -> None:
    summary = _load("kubelet-stats-summary-2018-minikube.json")
    pod = next(p for p in summary["pods"] if p["podRef"]["name"] == "heapster-5mz5f")
    running = pod["containers"][0]
    terminated = copy.deepcopy(running)
    terminated["startTime"] = "2018-03-01T10:00:00Z"
    terminated["cpu"]["usageCoreNanoSeconds"] = 111
    pod["containers"] = [running, terminated]  # the older one comes last and must not win
    key = "namespace:kube-system/pod:heapster-5mz5f/container:heapster"
    assert _decode(summary)[key].values["cpu/usage"] == MetricValue(15912744808, C)
    newer = copy.deepcopy(running)
    newer["startTime"] = "2018-03-02T12:00:00Z"
    newer["cpu"]["usageCoreNanoSeconds"] = 222
    pod["containers"] = [running, newer]
    result = _decode(summary)[key]
    assert result.values["cpu/usage"] == MetricValue(222, C)
    assert result.collection_start == datetime(2018, 3, 2, 12, tzinfo=UTC)
    assert result.create_time == datetime(2018, 3, 1, 14, 30, 24, tzinfo=UTC)  # the pod's start persists


def test_misc_system_container_is_renamed_system() -> None:
    summary = _load("kubelet-stats-summary-2018-minikube.json")
    misc = copy.deepcopy(summary["node"]["systemContainers"][0])
    misc["name"] = "misc"
    summary["node"]["systemContainers"].append(misc)
    sets = _decode(summary)
    assert sets["node:minikube/container:system"].labels["container_name"] == "system"
    assert "node:minikube/container:misc" not in sets


def test_user_defined_metrics_become_custom_metrics() -> None:
    summary = _load("kubelet-stats-summary-2018-minikube.json")
    container = summary["pods"][0]["containers"][0]
    container["userDefinedMetrics"] = [
        {"name": "qps", "type": "gauge", "units": "per second", "time": "2018-03-02T13:42:55Z", "value": 12.5},
        {"name": "requests", "type": "cumulative", "units": "count", "time": "2018-03-02T13:42:55Z", "value": 7},
        {"name": "errors", "type": "delta", "units": "count", "time": "2018-03-02T13:42:55Z", "value": 0.25},
        {"name": "weird", "type": "histogram", "units": "", "time": "2018-03-02T13:42:55Z", "value": 1},
        {"name": "bad", "type": "gauge", "value": "high"},
        {"name": "odd", "type": ["gauge"], "value": 1},
        "not a metric",
    ]
    key = "namespace:kube-system/pod:kube-state-metrics-57f4659995-6n2qq/container:kube-state-metrics"
    values = _decode(summary)[key].values
    assert values["custom/qps"] == MetricValue(12.5, G)
    assert values["custom/requests"] == MetricValue(7.0, C)  # always a float, as Heapster
    assert values["custom/errors"] == MetricValue(0.25, D)
    assert "custom/weird" not in values and "custom/bad" not in values and "custom/odd" not in values


def test_accelerators_are_labeled_metrics() -> None:
    summary = _load("kubelet-stats-summary-2018-minikube.json")
    container = summary["pods"][0]["containers"][0]
    container["accelerators"] = [
        {"make": "nvidia", "model": "tesla-p100", "id": "GPU-1", "memoryTotal": 17071734784,
         "memoryUsed": 1024, "dutyCycle": 42},
    ]
    key = "namespace:kube-system/pod:kube-state-metrics-57f4659995-6n2qq/container:kube-state-metrics"
    labeled = [m for m in _decode(summary)[key].labeled if m.name.startswith("accelerator/")]
    labels = {"make": "nvidia", "model": "tesla-p100", "accelerator_id": "GPU-1"}
    assert labeled == [
        LabeledMetric("accelerator/memory_total", labels, 17071734784, G),
        LabeledMetric("accelerator/memory_used", labels, 1024, G),
        LabeledMetric("accelerator/duty_cycle", labels, 42, G),
    ]


def test_bad_values_are_skipped_and_the_rest_kept() -> None:
    summary = _load("kubelet-stats-summary-2018-minikube.json")
    node = summary["node"]
    node["cpu"]["usageCoreNanoSeconds"] = "lots"
    node["memory"]["usageBytes"] = -5
    node["memory"]["rssBytes"] = 1.5
    node["memory"]["pageFaults"] = 1 << 63  # a uint64 beyond int64
    node["memory"]["majorPageFaults"] = True
    node["network"] = ["not", "an", "object"]
    node["startTime"] = "yesterday"
    summary["pods"][0]["containers"].append({"name": 7})
    summary["pods"][1]["podRef"] = None
    summary["pods"].append("garbage")
    sets = _decode(summary)
    values = sets["node:minikube"].values
    for name in ("cpu/usage", "memory/usage", "memory/rss", "memory/page_faults", "memory/major_page_faults",
                 "network/rx", "uptime"):
        assert name not in values
    assert values["memory/working_set"] == MetricValue(1305468928, G)
    assert sets["node:minikube"].collection_start is None
    assert "namespace:kube-system/pod:heapster-5mz5f" not in sets  # pod without a podRef is skipped
    assert "namespace:kube-system/pod:kube-state-metrics-57f4659995-6n2qq" in sets


def test_missing_sections_give_empty_sets_not_errors() -> None:
    sets = decode_summary(b'{"node": {"nodeName": "n1"}, "pods": [{"podRef": {"name": "p", "namespace": "d"}}]}',
                          NodeInfo("n1", "n1"), NOW_2018)
    assert sets["node:n1"].values == {} and sets["node:n1"].scrape_time is None
    assert sets["namespace:d/pod:p"].labels["pod_id"] == ""


def test_summary_node_name_keys_and_api_node_name_labels() -> None:
    summary = _load("kubelet-stats-summary-2018-minikube.json")
    sets = decode_summary(orjson.dumps(summary), NodeInfo("api-name", "host"), NOW_2018)
    assert sets["node:minikube"].labels["nodename"] == "api-name"


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"pods": []}', b'{"node": 3}', b"NaN",
                                  b'{"node": {"cpu": {"usageCoreNanoSeconds": NaN}}}'])
def test_malformed_summaries_raise_summary_error(body: bytes) -> None:
    with pytest.raises(SummaryError) as info:
        decode_summary(body, NODE_2018, NOW_2018)
    assert info.value.reason == "malformed"


def test_nanosecond_timestamps() -> None:
    body = b'{"node": {"nodeName": "n", "startTime": "2018-03-02T13:00:00.123456789Z", ' \
           b'"cpu": {"time": "2018-03-02T13:42:00.5Z", "usageCoreNanoSeconds": 1}}}'
    node = decode_summary(body, NodeInfo("n", "n"), _ts("2018-03-02T13:00:01.123456+00:00"))["node:n"]
    assert node.collection_start == datetime(2018, 3, 2, 13, 0, 0, 123456, tzinfo=UTC)
    assert node.scrape_time == datetime(2018, 3, 2, 13, 42, 0, 500000, tzinfo=UTC)
    assert node.values["uptime"] == MetricValue(1000, C)


def test_a_container_whose_rootfs_and_logs_sum_beyond_int64_loses_only_its_ephemeral_storage() -> None:
    """Each count is in int64, their sum (ephemeral_storage/usage) is not: that value is skipped, the node and every
    other value kept (the sum overflowed the batch's int64 column and failed the whole node), by the full decode and
    by the values-only decode of the same entities (SummaryShapes) alike."""
    summary = _load("kubelet-stats-summary-2018-minikube.json")
    pod = next(p for p in summary["pods"] if p["podRef"]["name"] == "heapster-5mz5f")
    system = summary["node"]["systemContainers"][0]
    for container in summary["node"]["systemContainers"]:
        container.pop("userDefinedMetrics")  # (these are always decoded in full)
    system["rootfs"], system["logs"] = copy.deepcopy(pod["containers"][0]["rootfs"]), {"usedBytes": 0}
    for container in (pod["containers"][0], system):
        container["rootfs"]["usedBytes"] = (1 << 62) + 1
        container["logs"]["usedBytes"] = 1 << 62
    body = json.dumps(summary).encode()
    shapes = SummaryShapes()
    full = decode_summary(body, NODE_2018, NOW_2018)
    decoded = [decode_summary_columns(body, NODE_2018, NOW_2018, shapes).to_metric_sets() for _ in range(2)]
    assert len(shapes) == 1  # the second decode read the values only
    for sets in (full, *decoded):
        for key in ("namespace:kube-system/pod:heapster-5mz5f/container:heapster",
                    f"node:minikube/container:{system['name']}"):
            container = sets[key]
            assert "ephemeral_storage/usage" not in container.values
            assert "cpu/usage" in container.values
            usage = {m.labels["resource_id"]: m.value for m in container.labeled if m.name == "filesystem/usage"}
            assert usage == {"/": (1 << 62) + 1, "logs": 1 << 62}
        assert sets["node:minikube"].values["memory/working_set"] == MetricValue(1305468928, G)
    assert decoded[0].keys() == decoded[1].keys() == full.keys()


@pytest.mark.parametrize("bad", [-5, 1 << 63, -(1 << 63), -(1 << 63) - 1, 1 << 70])
def test_a_count_out_of_int64_or_negative_is_skipped_alone(bad: int) -> None:
    summary = _load("kubelet-stats-summary-2018-minikube.json")
    summary["node"]["memory"]["usageBytes"] = bad
    pod = next(p for p in summary["pods"] if p["podRef"]["name"] == "heapster-5mz5f")
    pod["containers"][0]["rootfs"]["usedBytes"] = bad
    pod["network"]["txBytes"] = bad
    sets = decode_summary(json.dumps(summary).encode(), NODE_2018, NOW_2018)  # orjson has no ints beyond 64 bits
    node = sets["node:minikube"].values
    assert "memory/usage" not in node
    assert node["memory/working_set"] == MetricValue(1305468928, G)
    container = sets["namespace:kube-system/pod:heapster-5mz5f/container:heapster"]
    assert "ephemeral_storage/usage" not in container.values  # rootfs + logs: one of them unknown
    root = [m for m in container.labeled if m.labels == {"resource_id": "/"}]
    assert [m.name for m in root] == ["filesystem/limit", "filesystem/available", "filesystem/inodes",
                                      "filesystem/inodes_free"]
    network = sets["namespace:kube-system/pod:heapster-5mz5f"].values
    assert "network/tx" not in network and "network/rx" in network



def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (dict keys and list indexes) inside a decoded JSON document."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


def test_random_wrong_types_never_crash_the_decoder() -> None:
    import random

    rng = random.Random(20260626)
    original = _load("kubelet-stats-summary-2018-minikube.json")
    paths = [p for p in _paths(original) if p]
    junk: list[Any] = [None, "x", -1, 1 << 70, 2.5, [], [1, "a"], {}, {"a": {"b": []}}, True, "2018-13-45T99:00:00Z"]
    for _ in range(300):
        summary = copy.deepcopy(original)
        for path in rng.sample(paths, 8):
            target = summary
            try:
                for step in path[:-1]:
                    target = target[step]
                target[path[-1]] = rng.choice(junk)
            except (KeyError, IndexError, TypeError):
                continue  # an earlier change removed this path
        try:
            sets = decode_summary(json.dumps(summary).encode(), NODE_2018, NOW_2018)
        except SummaryError:
            continue  # the node itself became unusable: a clean per-node failure
        for ms in sets.values():
            assert all(type(v.value) in (int, float) for v in ms.values.values())
            assert all(0 <= v.value < 1 << 63 for k, v in ms.values.items() if not k.startswith("custom/"))


@pytest.mark.parametrize("text", [
    "2026-12-01T20:30:00Z", "1970-01-01T00:00:00Z", "2099-12-31T23:59:59Z", "2024-02-29T12:00:00Z",
    "0001-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-12-01T24:00:00Z", "2026-12-01T23:59:60Z",
    "2026-12-01T+1:00:00Z", "2026-12-01T2٣:00:00Z", "2026-12-01T20:30:00.5Z", "2026-12-01 20:30:00Z", "garbage",
])
def test_whole_second_times_by_arithmetic_equal_the_datetime_parse(text: str) -> None:
    from heapster.columns import MISSING, to_ns
    from heapster.timefmt import parse_rfc3339
    from heapster_source_kubernetes import summary

    quick = summary._whole_second_ns(text)
    try:
        parsed: datetime | None = parse_rfc3339(text)
    except ValueError:
        parsed = None
    expected = MISSING if parsed is None or parsed.year <= 1 else to_ns(parsed)
    if quick is None:  # left to the full parse
        assert text in ("0001-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-12-01T24:00:00Z",
                        "2026-12-01T23:59:60Z", "2026-12-01T+1:00:00Z", "2026-12-01T2٣:00:00Z",
                        "2026-12-01T20:30:00.5Z", "2026-12-01 20:30:00Z", "garbage")
    else:
        assert quick == expected
