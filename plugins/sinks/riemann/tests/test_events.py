"""The Riemann events Heapster sent, as they arrive at the server over the real TCP framing."""

from __future__ import annotations

import asyncio
import socket
import struct
from datetime import UTC, datetime

import pytest

from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricValue
from heapster.testing import synthetic_event
from heapster_sink_riemann.proto import Msg
from heapster_sink_riemann.testing import RiemannServer

T = datetime(2017, 3, 4, 5, 6, 7, tzinfo=UTC)


def attributes(event) -> dict[str, str]:
    return {a.key: a.value for a in event.attributes}


async def test_metric_values_become_heapsters_riemann_events(make_sink, server: RiemannServer) -> None:
    before = len(server.events)
    sink = await make_sink("ttl=120&state=ok&tags=foobar&tags=k8s")
    labels = {"type": "node", "nodename": "node-1", "hostname": "node-1.example"}
    await sink.export(DataBatch(T, {"node:node-1": MetricSet(
        labels=labels, values={"memory/usage": MetricValue(1024), "cpu/usage_rate": MetricValue(0.5)},
        labeled=[LabeledMetric("filesystem/usage", {"resource_id": "/"}, 77)])}))
    events = {e.service: e for e in server.events[before:]}
    assert set(events) == {"memory/usage", "cpu/usage_rate", "filesystem/usage"}
    memory = events["memory/usage"]
    assert memory.host == "node-1.example" and memory.time == int(T.timestamp())
    assert memory.HasField("metric_sint64") and memory.metric_sint64 == 1024 and not memory.HasField("metric_d")
    assert events["cpu/usage_rate"].metric_d == 0.5 and not events["cpu/usage_rate"].HasField("metric_sint64")
    assert memory.ttl == 120 and memory.state == "ok" and list(memory.tags) == ["foobar", "k8s"]
    assert [a.key for a in memory.attributes] == sorted(labels)  # sorted, as the Go client sent them
    assert attributes(memory) == labels
    assert attributes(events["filesystem/usage"]) == {**labels, "resource_id": "/"}
    assert not memory.HasField("description")


async def test_defaults_are_ttl_60_no_state_tag_heapster_and_the_local_hostname(make_sink,
                                                                                 server: RiemannServer) -> None:
    before = len(server.events)
    sink = await make_sink()
    await sink.export(DataBatch(T, {"cluster": MetricSet(labels={"type": "cluster"}, values={"m": MetricValue(1)})}))
    (event,) = server.events[before:]
    assert event.ttl == 60 and not event.HasField("state") and list(event.tags) == ["heapster"]
    assert event.host == socket.gethostname()


async def test_kubernetes_events_become_heapsters_riemann_events(make_sink, server: RiemannServer) -> None:
    before = len(server.events)
    sink = await make_sink(events=True)
    normal = synthetic_event(T, n=1, count=3)
    warning = {**synthetic_event(T, n=2), "type": "Warning", "reason": "BackOff", "firstTimestamp": None}
    from heapster.model import EventBatch

    batch_time = datetime(2017, 3, 4, 5, 7, 0, tzinfo=UTC)
    await sink.export_events(EventBatch(batch_time, [normal, warning]))
    first, second = server.events[before:]
    assert first.service == "Pod.Pulled" and first.host == "node-0" and first.state == "ok"
    assert first.description == "Container image pulled (1)" and first.metric_sint64 == 3
    assert first.time == int(batch_time.timestamp()) and first.ttl == 60 and list(first.tags) == ["heapster"]
    assert attributes(first) == {
        "namespace": "default", "uid": "uid-1", "name": "pod-1", "api-version": "v1", "resource-version": "42",
        "field-path": "spec.containers{app}", "component": "kubelet",
        "last-timestamp": str(int(T.timestamp())), "first-timestamp": str(int(T.timestamp()))}
    assert second.service == "Pod.BackOff" and second.state == "warning"
    assert attributes(second)["first-timestamp"] == ""


async def test_events_are_sent_batchsize_per_acknowledged_message(make_sink, server: RiemannServer) -> None:
    before_messages, before = server.messages, len(server.events)
    sink = await make_sink("batchsize=3")
    values = {f"m{i}": MetricValue(i) for i in range(7)}
    await sink.export(DataBatch(T, {"cluster": MetricSet(labels={"type": "cluster"}, values=values)}))
    assert server.messages - before_messages == 3  # 3 + 3 + 1
    assert [e.service for e in server.events[before:]] == [f"m{i}" for i in range(7)]


async def test_the_double_answers_an_undecodable_frame_with_ok_false(server: RiemannServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    bad = bytes.fromhex("32054a03120178")  # an Event whose Attribute has a value but not its required key
    writer.write(struct.pack(">I", len(bad)) + bad)
    (length,) = struct.unpack(">I", await reader.readexactly(4))
    reply = Msg.FromString(await reader.readexactly(length))
    writer.close()
    assert reply.ok is False and "decode" in reply.error


async def test_a_message_riemann_refuses_is_a_permanent_failure_counting_its_events(make_sink,
                                                                                     server: RiemannServer) -> None:
    from heapster.errors import PermanentError

    sink = await make_sink("batchsize=2")
    values = {f"m{i}": MetricValue(i) for i in range(3)}
    server.stream_error = "java.lang.IllegalArgumentException: boom"
    try:
        with pytest.raises(PermanentError, match="boom") as caught:
            await sink.export(DataBatch(T, {"cluster": MetricSet(labels={"type": "cluster"}, values=values)}))
    finally:
        server.stream_error = None
    assert caught.value.dropped == 3
