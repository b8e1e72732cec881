"""Heapster's statsd lines (etsystatsd_formatter_test.go, influxstatsd_formatter_test.go), options, Go's %v."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from heapster.errors import UsageError
from heapster.interfaces import PluginContext
from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricValue
from heapster.plugins import load_plugins
from heapster_sink_statsd.config import StatsdConfig
from heapster_sink_statsd.encode import EtsyFormatter, InfluxFormatter, datagrams, encode_batch
from heapster_sink_statsd.gofmt import format_v

ETSY = {"hostname": "testhost", "namespace_name": "testnamespace", "pod_name": "testpodname",
        "container_name": "testcontainername", "labels": "test_tag_1:val1,test_tag_2:val2,test_tag_3:val3"}
LOWER = "testTag1.val1.testTag2.val2.testTag3.val3"
UPPER = "TestTag1.val1.TestTag2.val2.TestTag3.val3"


def etsy(style: str) -> EtsyFormatter:
    return EtsyFormatter(StatsdConfig(prefix="testprefix", label_style=style))


@pytest.mark.parametrize(("kind", "style", "expected"), [
    ("pod_container", "lowerCamelCase",
     f"testprefix.node.testhost.namespace.testnamespace.pod.testpodname.container.testcontainername.{LOWER}"
     ".testmetric:1000|g"),
    ("sys_container", "upperCamelCase",
     f"testprefix.node.testhost.sys-container.testcontainername.{UPPER}.testmetric:1000|g"),
    ("pod", "lowerCamelCase",
     f"testprefix.node.testhost.namespace.testnamespace.pod.testpodname.{LOWER}.testmetric:1000|g"),
    ("ns", "upperCamelCase", f"testprefix.namespace.testnamespace.{UPPER}.testmetric:1000|g"),
    ("node", "lowerCamelCase", f"testprefix.node.testhost.{LOWER}.testmetric:1000|g"),
    ("cluster", "upperCamelCase", f"testprefix.cluster.{UPPER}.testmetric:1000|g"),
])
def test_etsystatsd_lines_are_heapsters(kind: str, style: str, expected: str) -> None:
    assert etsy(style).format("testmetric", {**ETSY, "type": kind}, "1000") == expected


def test_etsystatsd_refuses_unknown_or_missing_types() -> None:
    assert etsy("").format("m", {**ETSY, "type": "UnknownMetricSetType"}, "1") is None
    assert etsy("").format("m", ETSY, "1") is None


def test_etsystatsd_resource_id_and_escaping() -> None:
    line = etsy("").format("filesystem/usage", {"type": "node", "hostname": "ip-10.0.0.1", "resource_id": "a.b|c"},
                           "5")
    assert line == "testprefix.node.ip-10_0_0_1.filesystem/usage.a_b_c:5|g"


INFLUX = {"test_tag_1": "value1", "test_tag_2": "value2", "test_tag_3": "value3"}


def test_influxstatsd_lines_are_heapsters() -> None:
    assert InfluxFormatter(StatsdConfig(prefix="testprefix.")).format("testmetric", {}, "1000") == \
        "testprefix.testmetric:1000|g"
    lower = InfluxFormatter(StatsdConfig(prefix="testprefix.", label_style="lowerCamelCase"))
    assert lower.format("testmetric", INFLUX, "1000") == \
        "testprefix.testmetric,testTag1=value1,testTag2=value2,testTag3=value3:1000|g"
    upper = InfluxFormatter(StatsdConfig(label_style="upperCamelCase"))
    assert upper.format("testmetric", INFLUX, "1000") == \
        "testmetric,TestTag1=value1,TestTag2=value2,TestTag3=value3:1000|g"


def test_influxstatsd_expands_user_labels_renames_and_skips_empty_values() -> None:
    f = InfluxFormatter(StatsdConfig(rename_labels={"host_name": "k8s_host_name"}))
    labels = {"host_name": "h1", "labels": "app:web,tier:a=b", "empty": "", "type": "pod"}
    assert f.format("cpu/usage", labels, "1") == "cpu/usage,app=web,k8s_host_name=h1,tier=a_b,type=pod:1|g"


def test_allowed_labels_filter_set_and_labeled_metric_labels() -> None:
    config = StatsdConfig(protocol="influxstatsd", allowed_labels=frozenset({"type", "resource_id"}))
    batch = DataBatch(datetime.now(UTC), {"n": MetricSet(
        labels={"type": "node", "hostname": "h"}, values={"memory/usage": MetricValue(1)},
        labeled=[LabeledMetric("filesystem/usage", {"resource_id": "/", "other": "x"}, 2)])})
    assert sorted(encode_batch(batch, config).lines) == [
        "filesystem/usage,resource_id=/,type=node:2|g", "memory/usage,type=node:1|g"]


def test_datagrams_pack_lines_as_heapster() -> None:
    assert datagrams(["a:1|g", "b:2|g", "c:3|g"], 2) == [b"a:1|g\nb:2|g\n", b"c:3|g\n"]


@pytest.mark.parametrize(("value", "text"), [
    (1000, "1000"), (0.5, "0.5"), (100.0, "100"), (1234567.0, "1.234567e+06"), (1e-05, "1e-05"),
    (0.0001, "0.0001"), (-2.25, "-2.25"), (0.0, "0"), (123456.0, "123456"),
])
def test_values_are_gos_percent_v(value: float, text: str) -> None:
    assert format_v(value) == text


def test_the_docs_example_uri() -> None:
    spec = ("statsd:udp://127.0.0.1:4125?prefix=kubernetes.example.&protocolType=influxstatsd&numMetricsPerMsg=10"
            "&renameLabels=type:k8s_type,host_name:k8s_host_name&allowedLabels=container_name,namespace_name,type,"
            "host_name&labelStyle=lowerCamelCase")
    c = load_plugins().build_metric_sink(spec, PluginContext()).config
    assert (c.host, c.port, c.prefix, c.protocol, c.metrics_per_message, c.label_style) == \
        ("127.0.0.1", 4125, "kubernetes.example.", "influxstatsd", 10, "lowerCamelCase")
    assert c.rename_labels == {"type": "k8s_type", "host_name": "k8s_host_name"}
    assert c.allowed_labels == {"container_name", "namespace_name", "type", "host_name"}


def test_defaults() -> None:
    c = load_plugins().build_metric_sink("statsd:", PluginContext()).config
    assert (c.host, c.port, c.prefix, c.protocol, c.metrics_per_message) == ("localhost", 8125, "", "etsystatsd", 5)


@pytest.mark.parametrize(("query", "named"), [
    ("protocolType=dogstatsd", "protocolType"), ("numMetricsPerMsg=0", "numMetricsPerMsg"),
    ("numMetricsPerMsg=x", "numMetricsPerMsg"), ("renameLabels=a", "renameLabels"),
    ("labelStyle=snake", "labelStyle"), ("prefx=a", "prefx"),
])
def test_bad_options_name_the_option(query: str, named: str) -> None:
    with pytest.raises(UsageError, match=named):
        load_plugins().build_metric_sink(f"statsd:udp://h:1?{query}", PluginContext())
