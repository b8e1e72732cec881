"""Heapster's graphite paths (metrics/sinks/graphite/driver_test.go), values and timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from heapster.interfaces import PluginContext
from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricValue
from heapster.plugins import load_plugins
from heapster_sink_graphite.encode import encode_batch, metric_path

BASE = {"hostname": "example", "namespace_name": "namespace", "pod_name": "pod-name-12345",
        "container_name": "container"}


@pytest.mark.parametrize(("kind", "path"), [
    ("pod_container", "nodes.example.pods.namespace.pod-name-12345.containers.container.metric.avg"),
    ("sys_container", "nodes.example.sys-containers.container.metric.avg"),
    ("pod", "nodes.example.pods.namespace.pod-name-12345.metric.avg"),
    ("ns", "namespaces.namespace.metric.avg"),
    ("node", "nodes.example.metric.avg"),
    ("cluster", "cluster.metric.avg"),
    ("unknown", "metric.avg"),
])
def test_paths_are_heapsters(kind: str, path: str) -> None:
    assert metric_path("metric/avg", {**BASE, "type": kind}) == path


def test_dots_and_slashes_in_names_are_escaped_but_namespaces_are_kept() -> None:
    labels = {"type": "pod_container", "hostname": "ip-10.0.0.1", "namespace_name": "ns.x",
              "pod_name": "web.1", "container_name": "a/b"}
    assert metric_path("cpu/usage", labels) == "nodes.ip-10_0_0_1.pods.ns.x.web_1.containers.a_b.cpu.usage"


def test_a_resource_id_goes_after_the_first_part_of_the_name() -> None:
    labels = {"type": "node", "hostname": "n1", "resource_id": "/dev/sda1"}
    assert metric_path("filesystem/usage", labels) == "nodes.n1.filesystem._dev_sda1.usage"


def test_lines_carry_prefix_go_formatted_values_and_the_batch_second() -> None:
    ts = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    batch = DataBatch(ts, {"node:n1": MetricSet(
        labels={"type": "node", "hostname": "n1"},
        values={"memory/usage": MetricValue(123), "cpu/usage_rate": MetricValue(0.5)},
        labeled=[LabeledMetric("filesystem/usage", {"resource_id": "/"}, 7)])})
    encoded = encode_batch(batch, "kubernetes")
    second = int(ts.timestamp())
    assert sorted(encoded.lines) == sorted([
        f"kubernetes.nodes.n1.memory.usage 123 {second}\n",
        f"kubernetes.nodes.n1.cpu.usage_rate 0.500000 {second}\n",
        f"kubernetes.nodes.n1.filesystem._.usage 7 {second}\n",
    ])
    assert encoded.rejected == 0


def test_values_carbon_would_refuse_are_counted_not_sent() -> None:
    batch = DataBatch(datetime.now(UTC), {
        # infinity: a NaN is "no value" in the batch's columns, so it never reaches a sink
        "a": MetricSet(labels={"type": "cluster"}, values={"x": MetricValue(float("inf")), "ok": MetricValue(1)}),
        "b": MetricSet(labels={"type": "node", "hostname": "has space"}, values={"y": MetricValue(1)}),
    })
    encoded = encode_batch(batch, "k")
    assert [line.split()[0] for line in encoded.lines] == ["k.cluster.ok"]
    assert encoded.rejected == 2


@pytest.mark.parametrize(("spec", "expected"), [
    ("graphite:tcp://metrics.example.com:2003?prefix=kubernetes.example",
     ("tcp", "metrics.example.com", 2003, "kubernetes.example")),
    ("graphite:udp://10.0.0.1", ("udp", "10.0.0.1", 2003, "kubernetes")),
    ("graphite:", ("tcp", "localhost", 2003, "kubernetes")),
    ("graphite:tcp://[::1]:2103?prefix=", ("tcp", "::1", 2103, "kubernetes")),
])
def test_uri_forms(spec: str, expected: tuple) -> None:
    sink = load_plugins().build_metric_sink(spec, PluginContext())
    c = sink.config
    assert (c.protocol, c.host, c.port, c.prefix) == expected
