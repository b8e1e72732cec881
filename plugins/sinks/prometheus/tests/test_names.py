"""Heapster names translated to Prometheus ones: units in names, counters with _total, sanitised labels."""

from __future__ import annotations

import pytest

from heapster.model import MetricType
from heapster_sink_prometheus.names import escape_label_value, family, format_value, label_name

C, G = MetricType.CUMULATIVE, MetricType.GAUGE


@pytest.mark.parametrize(("heapster", "mtype", "name", "sample", "kind", "unit"), [
    ("cpu/usage_rate", G, "heapster_cpu_usage_rate_millicores", "heapster_cpu_usage_rate_millicores", "gauge",
     "millicores"),
    ("cpu/usage", C, "heapster_cpu_usage_nanoseconds", "heapster_cpu_usage_nanoseconds_total", "counter",
     "nanoseconds"),
    ("memory/working_set", G, "heapster_memory_working_set_bytes", "heapster_memory_working_set_bytes", "gauge",
     "bytes"),
    ("network/rx", C, "heapster_network_rx_bytes", "heapster_network_rx_bytes_total", "counter", "bytes"),
    ("uptime", C, "heapster_uptime_milliseconds", "heapster_uptime_milliseconds_total", "counter", "milliseconds"),
    ("memory/page_faults", C, "heapster_memory_page_faults", "heapster_memory_page_faults_total", "counter", ""),
    ("filesystem/inodes", G, "heapster_filesystem_inodes", "heapster_filesystem_inodes", "gauge", ""),
    ("cpu/node_utilization", G, "heapster_cpu_node_utilization", "heapster_cpu_node_utilization", "gauge", ""),
    ("custom/qps-total.v2", G, "heapster_custom_qps_total_v2", "heapster_custom_qps_total_v2", "gauge", ""),
])
def test_family_names(heapster: str, mtype: MetricType, name: str, sample: str, kind: str, unit: str) -> None:
    fam = family(heapster, mtype)
    assert (fam.name, fam.sample, fam.kind, fam.unit) == (name, sample, kind, unit)
    assert fam.help


def test_prefix_and_counter_already_ending_in_total() -> None:
    assert family("custom/requests_total", C, "k8s_").sample == "k8s_custom_requests_total"
    assert family("custom/requests_total", C, "k8s_").name == "k8s_custom_requests"
    assert family("cpu/usage_rate", G, "").name == "cpu_usage_rate_millicores"


@pytest.mark.parametrize(("key", "name"), [
    ("nodename", "nodename"), ("app.kubernetes.io/name", "app_kubernetes_io_name"), ("9lives", "_9lives"),
    ("__name__", "label__name__"), ("", "_"),
])
def test_label_names_are_sanitised(key: str, name: str) -> None:
    assert label_name(key) == name


def test_label_values_and_numbers_are_escaped() -> None:
    assert escape_label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert [format_value(v) for v in (3, 2.5, float("nan"), float("inf"), float("-inf"), 1e21)] == [
        "3", "2.5", "NaN", "+Inf", "-Inf", "1e+21"]
