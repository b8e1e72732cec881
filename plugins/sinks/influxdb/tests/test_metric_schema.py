"""What the metric sink stores in a real influxd, point by point, in both schema modes (HEAPSTER.md §7.2)."""

from __future__ import annotations

from datetime import UTC, datetime

from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricType, MetricValue

TS = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
TS_NS = 1740830400_123456000
C = MetricType.CUMULATIVE

NODE_LABELS = {
    "type": "node", "nodename": "node-1", "hostname": "node-1.example", "host_id": "i-123",
    "labels": "kubernetes.io/hostname:node-1,role:worker", "schedulable": "true",
}
CONTAINER_LABELS = {
    "type": "pod_container", "nodename": "node-1", "hostname": "node-1.example", "host_id": "i-123",
    "namespace_name": "default", "namespace_id": "ns-uid", "pod_name": "web-1", "pod_id": "pod-uid-1",
    "container_name": "nginx", "container_base_image": "nginx:1.25", "labels": "app:web",
}
POD_LABELS = {
    "type": "pod", "nodename": "node-1", "hostname": "node-1.example", "host_id": "i-123",
    "namespace_name": "default", "namespace_id": "ns-uid", "pod_name": "web-1", "pod_id": "pod-uid-1",
    "labels": "",
}


def fixture_batch() -> DataBatch:
    """A node, a pod, one of its containers and the cluster, with int, float and labeled values."""
    return DataBatch(TS, {
        "node:node-1": MetricSet(
            labels=dict(NODE_LABELS),
            values={"cpu/usage": MetricValue(123456789012, C), "cpu/usage_rate": MetricValue(250),
                    "memory/node_utilization": MetricValue(0.25), "uptime": MetricValue(3600000, C)},
            labeled=[LabeledMetric("filesystem/usage", {"resource_id": "/"}, 1000),
                     LabeledMetric("filesystem/usage", {"resource_id": "Volume:my vol,x=1"}, 2000)]),
        "namespace:default/pod:web-1/container:nginx": MetricSet(
            labels=dict(CONTAINER_LABELS),
            values={"memory/usage": MetricValue(123456), "network/rx_rate": MetricValue(12.5),
                    "ephemeral_storage/usage": MetricValue(4096)}),
        "namespace:default/pod:web-1": MetricSet(labels=dict(POD_LABELS), values={"cpu/request": MetricValue(100)}),
        "cluster": MetricSet(labels={"type": "cluster"}, values={"memory/usage": MetricValue(999)}),
    })


def tags(**kw: str) -> frozenset[tuple[str, str]]:
    return frozenset(kw.items())


NODE_TAGS = dict(cluster_name="c1", labels="kubernetes.io/hostname:node-1,role:worker", nodename="node-1",
                 schedulable="true", type="node")
CONTAINER_TAGS = dict(cluster_name="c1", container_base_image="nginx:1.25", container_name="nginx",
                      labels="app:web", namespace_name="default", nodename="node-1", pod_name="web-1",
                      type="pod_container")
POD_TAGS = dict(cluster_name="c1", namespace_name="default", nodename="node-1", pod_name="web-1", type="pod")

# (metric name, tags, value) of every point the batch must produce.
EXPECTED = [
    ("cpu/usage", tags(**NODE_TAGS), 123456789012),
    ("cpu/usage_rate", tags(**NODE_TAGS), 250),
    ("memory/node_utilization", tags(**NODE_TAGS), 0.25),
    ("uptime", tags(**NODE_TAGS), 3600000),
    ("filesystem/usage", tags(**NODE_TAGS, resource_id="/"), 1000),
    ("filesystem/usage", tags(**NODE_TAGS, resource_id="Volume:my vol,x=1"), 2000),
    ("memory/usage", tags(**CONTAINER_TAGS), 123456),
    ("network/rx_rate", tags(**CONTAINER_TAGS), 12.5),
    ("ephemeral_storage/usage", tags(**CONTAINER_TAGS), 4096),
    ("cpu/request", tags(**POD_TAGS), 100),
    ("memory/usage", tags(cluster_name="c1", type="cluster"), 999),
]
POD_ID_POINT = ("heapster_pod_ids", tags(cluster_name="c1", namespace_name="default", pod_id="pod-uid-1",
                                         pod_name="web-1"), "value", 1, TS_NS)


def with_fields(name: str) -> tuple[str, str]:
    measurement, _, field = name.partition("/")
    return measurement, field or "value"


async def test_default_schema_stores_exactly_heapsters_points(make_sink, server, db_name) -> None:
    sink = await make_sink("cluster_name=c1")
    await sink.export(fixture_batch())

    expected = {(name, t, "value", value, TS_NS) for name, t, value in EXPECTED} | {POD_ID_POINT}
    assert server.points(db_name) == expected


async def test_withfields_schema_splits_measurement_and_field(make_sink, server, db_name) -> None:
    sink = await make_sink("cluster_name=c1&withfields=true")
    await sink.export(fixture_batch())

    expected = {(*with_fields(name), t, value) for name, t, value in EXPECTED}
    stored = server.points(db_name)
    assert stored == {(m, t, f, v, TS_NS) for m, f, t, v in expected} | {POD_ID_POINT}
    assert {p[0] for p in stored} == {"cpu", "memory", "uptime", "filesystem", "network", "ephemeral_storage",
                                      "heapster_pod_ids"}


async def test_integer_and_float_values_keep_their_type(make_sink, server, db_name) -> None:
    sink = await make_sink("withfields=true")
    await sink.export(fixture_batch())

    types = server.field_types(db_name)
    assert types[("cpu", "usage_rate")] == "integer"
    assert types[("memory", "node_utilization")] == "float"
    assert types[("network", "rx_rate")] == "float"
    assert types[("uptime", "value")] == "integer"
    assert types[("filesystem", "usage")] == "integer"


async def test_disable_counter_metrics_skips_cumulatives_with_a_rate(make_sink, server, db_name) -> None:
    sink = await make_sink("cluster_name=c1&disable_counter_metrics=true&pod_id_index=false")
    await sink.export(fixture_batch())

    stored = server.points(db_name)
    assert {p[0] for p in stored} == {name for name, _, _ in EXPECTED} - {"cpu/usage"}
    assert ("uptime", tags(**NODE_TAGS), "value", 3600000, TS_NS) in stored  # cumulative without a rate stays


async def test_batches_are_split_into_requests_of_batch_size_points(make_sink, server, db_name) -> None:
    sink = await make_sink("cluster_name=c1&batch_size=3&concurrency=2")
    posted: list[int] = []
    original = sink.writer._post

    async def counting_post(lines: list[str], body: bytes | None = None) -> tuple[int, str]:
        posted.append(len(lines))
        return await original(lines, body)

    sink.writer._post = counting_post
    await sink.export(fixture_batch())

    assert posted and max(posted) == 3 and sum(posted) == len(EXPECTED) + 1
    assert len(server.points(db_name)) == len(EXPECTED) + 1


async def test_writes_are_gzipped_and_run_concurrency_at_a_time(make_sink, server, db_name) -> None:
    sink = await make_sink("batch_size=2&concurrency=3")
    in_flight, most, bodies = 0, 0, []
    original = sink.writer._post

    async def watching_post(lines: list[str], body: bytes | None = None) -> tuple[int, str]:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        bodies.append(body)
        try:
            return await original(lines, body)
        finally:
            in_flight -= 1

    sink.writer._post = watching_post
    await sink.export(fixture_batch())

    assert most == 3 and len(bodies) == 6
    assert all(body is not None and body[:2] == b"\x1f\x8b" for body in bodies)  # gzip magic
    assert len(server.points(db_name)) == len(EXPECTED) + 1
