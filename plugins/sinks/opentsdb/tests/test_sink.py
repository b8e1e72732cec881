"""Heapster's OpenTSDB data points, chunking, refusals and outages, against the strict double."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from heapster.errors import PermanentError, RetryableError, UsageError
from heapster.interfaces import PluginContext
from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricType, MetricValue
from heapster.plugins import load_plugins
from heapster.testing import synthetic_batch
from heapster_sink_opentsdb.encode import encode_batch, sanitize
from heapster_sink_opentsdb.testing import OpentsdbDouble

TS = datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)


def test_points_are_heapsters() -> None:
    batch = DataBatch(TS, {"pod:a/b": MetricSet(
        labels={"type": "pod", "pod_name": "web-1", "labels": "app:web,tier:front", "empty": "",
                "namespace_name": "default"},
        values={"cpu/usage": MetricValue(7, MetricType.CUMULATIVE), "cpu/limit": MetricValue(100),
                "cpu/usage_rate": MetricValue(0.5)},
        labeled=[LabeledMetric("filesystem/usage", {"resource_id": "/"}, 1)])})
    points = {p["metric"]: p for p in encode_batch(batch, "k8s-cluster").points}
    assert set(points) == {"cpu_usage_cumulative", "cpu_limit_gauge", "cpu_usage_rate_gauge"}  # no labeled
    point = points["cpu_usage_cumulative"]
    assert point["timestamp"] == int(TS.timestamp()) and point["value"] == 7
    assert point["tags"] == {"type": "pod", "pod_name": "web-1", "labels": "app_web_tier_front",
                             "namespace_name": "default", "cluster": "k8s-cluster"}
    assert points["cpu_usage_rate_gauge"]["value"] == 0.5


def test_sanitising_keeps_what_opentsdb_takes() -> None:
    assert sanitize("kubernetes.io/hostname") == "kubernetes.io/hostname"
    assert sanitize("a b:c,d=é") == "a_b_c_d__"


@pytest.mark.parametrize(("spec", "host", "port", "cluster"), [
    ("opentsdb:http://192.168.1.8:4242?cluster=k8s-cluster", "192.168.1.8", 4242, "k8s-cluster"),
    ("opentsdb:", "127.0.0.1", 4242, "k8s-cluster"),
    ("opentsdb:https://tsdb?cluster=prod", "tsdb", 4242, "prod"),
])
def test_uri_forms(spec: str, host: str, port: int, cluster: str) -> None:
    c = load_plugins().build_metric_sink(spec, PluginContext()).config
    assert (c.host, c.port, c.cluster) == (host, port, cluster)
    assert c.put_url == f"http://{host}:{port}/api/put?details"


@pytest.mark.parametrize("spec", ["opentsdb:http://h:x", "opentsdb:?cluster=", "opentsdb:?cluster=a b",
                                  "opentsdb:?clustr=a"])
def test_bad_uris(spec: str) -> None:
    with pytest.raises(UsageError):
        load_plugins().build_metric_sink(spec, PluginContext())


async def test_big_batches_go_in_requests_of_1000(make_sink, tsdb: OpentsdbDouble) -> None:
    sink = await make_sink()
    batch = synthetic_batch(TS, nodes=10, pods=10, containers=3)
    expected = len(encode_batch(batch, "k8s-cluster").points)
    assert expected > 2000
    await sink.export(batch)
    assert len(tsdb.points) == expected
    assert tsdb.requests == -(-expected // 1000)


async def test_default_opentsdb_refuses_heapsters_many_tags(tsdb_server, tsdb: OpentsdbDouble, make_sink) -> None:
    """With OpenTSDB's default tsd.storage.max_tags=8, container points (10 tags) are refused and counted."""
    tsdb.max_tags = 8
    sink = await make_sink()
    batch = synthetic_batch(TS, nodes=1, pods=1, containers=1)
    with pytest.raises(PermanentError) as caught:
        await sink.export(batch)
    assert caught.value.dropped > 0 and "Too many tags" in str(caught.value)
    assert tsdb.points  # node points (fewer tags) were stored


async def test_an_unknown_metric_is_refused_without_auto_create(tsdb: OpentsdbDouble, make_sink) -> None:
    tsdb.auto_create_metrics = False
    tsdb.known_metrics = {"memory_usage_gauge"}
    sink = await make_sink()
    batch = DataBatch(TS, {"c": MetricSet(labels={"type": "cluster"},
                                          values={"memory/usage": MetricValue(1), "cpu/limit": MetricValue(2)})})
    with pytest.raises(PermanentError, match="No such name") as caught:
        await sink.export(batch)
    assert caught.value.dropped == 1
    assert [p.metric for p in tsdb.points] == ["memory_usage_gauge"]


async def test_a_retry_sends_only_the_chunks_not_yet_accepted(tsdb_server, tsdb: OpentsdbDouble, make_sink) -> None:
    sink = await make_sink()
    batch = synthetic_batch(TS, nodes=10, pods=10, containers=3)
    total = len(encode_batch(batch, "k8s-cluster").points)
    original_put = sink._put
    calls = 0

    async def put_then_fail(chunk):
        nonlocal calls
        calls += 1
        if calls == 2:
            tsdb_server.stop()
        return await original_put(chunk)

    sink._put = put_then_fail
    with pytest.raises(RetryableError):
        await sink.export(batch)
    assert len(tsdb.points) == 1000
    tsdb_server.start()
    sink._put = original_put
    await sink.export(batch)
    assert len(tsdb.points) == total  # nothing twice
