"""Heapster's Wavefront lines, URI forms and options."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from heapster.errors import UsageError
from heapster.interfaces import PluginContext
from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricValue
from heapster.plugins import load_plugins
from heapster_sink_wavefront.config import WavefrontConfig
from heapster_sink_wavefront.encode import encode_batch
from heapster_sink_wavefront.testing import parse_line

TS = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SECOND = int(TS.timestamp())
CONTAINER = {"type": "pod_container", "hostname": "node-1", "host_id": "i-1", "nodename": "node-1",
             "namespace_name": "default", "namespace_id": "ns-uid", "pod_name": "web-1", "pod_id": "uid",
             "container_name": "nginx", "labels": "app:web,app.kubernetes.io/name:web", "empty": ""}


def lines(config: WavefrontConfig, sets: dict[str, MetricSet]) -> list[str]:
    return encode_batch(DataBatch(TS, sets), config).lines


def test_a_container_line_is_heapsters() -> None:
    out = lines(WavefrontConfig(), {"c": MetricSet(labels=CONTAINER, values={"cpu/usage": MetricValue(7)})})
    assert out == [f'heapster.pod_container.cpu.usage 7 {SECOND} source="node-1" cluster="k8s-cluster" '
                   'container_name="nginx" namespace_name="default" nodename="node-1" pod_name="web-1" '
                   'type="pod_container" \n']


def test_include_labels_adds_label_tags_with_keys_the_proxy_takes() -> None:
    out = lines(WavefrontConfig(include_labels=True),
                {"c": MetricSet(labels=CONTAINER, values={"memory/usage": MetricValue(1)})})
    point = parse_line(out[0])
    assert point.tags["label.app"] == "web"
    assert point.tags["label.app.kubernetes.io-name"] == "web"  # '/' is not allowed in a tag key


def test_sources_float_format_labeled_metrics_and_skips() -> None:
    sets = {
        "cluster": MetricSet(labels={"type": "cluster"}, values={"cpu/usage_rate": MetricValue(0.5)}),
        "ns:default": MetricSet(labels={"type": "ns", "namespace_name": "default"},
                                values={"memory/usage": MetricValue(3)}),
        "node:node-1": MetricSet(labels={"type": "node", "hostname": "node-1"},
                                 labeled=[LabeledMetric("filesystem/usage", {"resource_id": "/dev/sda1"}, 9)]),
        "sys": MetricSet(labels={"type": "sys_container", "hostname": "node-1",
                                 "container_name": "system.slice/docker.service"},
                         values={"memory/usage": MetricValue(1)}),
        "c": MetricSet(labels=CONTAINER, values={"memory/usage": MetricValue(1)}),
    }
    points = {p.metric: p for p in map(parse_line, lines(WavefrontConfig(cluster_name="prod", prefix="k8s.",
                                                                          include_containers=False), sets))}
    assert set(points) == {"k8s.cluster.cpu.usage_rate", "k8s.ns.memory.usage", "k8s.node.filesystem.usage"}
    assert points["k8s.cluster.cpu.usage_rate"].source == "prod"
    assert points["k8s.ns.memory.usage"].source == "default-ns"
    assert points["k8s.node.filesystem.usage"].source == "node-1"
    assert points["k8s.node.filesystem.usage"].tags["resource_id"] == "/dev/sda1"
    assert all(p.tags["cluster"] == "prod" for p in points.values())
    assert "0.500000" in next(line for line in lines(WavefrontConfig(), sets) if "usage_rate" in line)


def test_quotes_in_values_are_escaped() -> None:
    out = lines(WavefrontConfig(), {"n": MetricSet(labels={"type": "node", "hostname": "n", "odd": 'a"b'},
                                                   values={"m": MetricValue(1)})})
    assert parse_line(out[0]).tags["odd"] == 'a"b'


@pytest.mark.parametrize(("spec", "host", "port"), [
    ("wavefront:wavefront-proxy.default.svc.cluster.local:2878?clusterName=k8s-cluster&includeLabels=true",
     "wavefront-proxy.default.svc.cluster.local", 2878),
    ("wavefront:10.0.0.1:2879", "10.0.0.1", 2879),
    ("wavefront:tcp://proxy:2880", "proxy", 2880),
    ("wavefront:proxy", "proxy", 2878),
])
def test_uri_forms(spec: str, host: str, port: int) -> None:
    c = load_plugins().build_metric_sink(spec, PluginContext()).config
    assert (c.host, c.port) == (host, port)


def test_options_as_heapsters_test() -> None:
    spec = "wavefront:wavefront-proxy:2878?clusterName=testCluster&prefix=testPrefix&includeLabels=true"
    c = load_plugins().build_metric_sink(spec, PluginContext()).config
    assert (c.cluster_name, c.prefix, c.include_labels, c.include_containers) == ("testCluster", "testPrefix",
                                                                                  True, True)


@pytest.mark.parametrize("spec", ["wavefront:proxy:notaport", "wavefront:proxy:2878?includeLabels=maybe",
                                  "wavefront:proxy:2878?cluster=x"])
def test_bad_uris(spec: str) -> None:
    with pytest.raises(UsageError):
        load_plugins().build_metric_sink(spec, PluginContext())
