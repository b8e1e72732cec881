"""OTLP/gRPC (protocol=grpc) against the strict gRPC receiver: every series and event arrives through the
official Export services, gzip, headers as metadata, retry on UNAVAILABLE/RESOURCE_EXHAUSTED with
resume, never on INVALID_ARGUMENT."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import grpc
import pytest

from heapster.errors import PermanentError, RetryableError, UsageError
from heapster.model import EventBatch
from heapster.plugins import EVENT_SINK, METRIC_SINK, load_plugins
from heapster.testing import synthetic_batch, synthetic_event
from heapster.testing.contract import dropped_so_far
from heapster.testing.net import TcpProxy
from heapster_sink_otlp.config import build_config
from heapster_sink_otlp.grpc_testing import OtlpGrpcReceiver
from heapster_sink_otlp.sink import OtlpEventSink, OtlpMetricSink

STAMP = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)


@pytest.fixture
def grpc_receiver() -> Iterator[OtlpGrpcReceiver]:
    with OtlpGrpcReceiver() as receiver:
        yield receiver


def _sink(receiver: OtlpGrpcReceiver, options: str = "", kind: str = METRIC_SINK) -> OtlpMetricSink:
    _, config = load_plugins().configure(kind, f"otlp:http://{receiver.endpoint}?protocol=grpc{options}")
    built = build_config(config)
    return OtlpEventSink(built) if kind == EVENT_SINK else OtlpMetricSink(built)  # type: ignore[return-value]


@pytest.mark.parametrize("compression", ["gzip", "none"])
async def test_every_series_arrives_through_metrics_service_export(
        grpc_receiver: OtlpGrpcReceiver, compression: str) -> None:
    sink = _sink(grpc_receiver, f"&compression={compression}&batch_size=3&headers=X-Tenant:%20team-a")
    batch = synthetic_batch(STAMP, nodes=2, pods=2, containers=1, seq=2)
    await sink.export(batch)
    await sink.close()
    expected = sum(len(s.values) + len(s.labeled) for s in batch.metric_sets.values())
    assert len(grpc_receiver.metric_points) == expected
    assert len(grpc_receiver.metadata) == -(-len(batch.metric_sets) // 3)
    assert all(m.get("x-tenant") == "team-a" for m in grpc_receiver.metadata)
    pod = [p for p in grpc_receiver.metric_points if p.resource.get("k8s.pod.name") == "pod-1-0"
           and p.name == "heapster.network.rx"]
    assert pod and pod[0].value == batch.metric_sets["namespace:default/pod:pod-1-0"].values["network/rx"].value


async def test_gzip_shrinks_what_goes_on_the_wire(grpc_receiver: OtlpGrpcReceiver) -> None:
    batch = synthetic_batch(STAMP, nodes=3, pods=5, containers=2)
    sent = {}
    for compression in ("gzip", "none"):
        async with TcpProxy(f"http://127.0.0.1:{grpc_receiver.port}") as proxy:
            _, config = load_plugins().configure(
                METRIC_SINK, f"otlp:{proxy.url}?protocol=grpc&compression={compression}")
            sink = OtlpMetricSink(build_config(config))
            await sink.export(batch)
            await sink.close()
        sent[compression] = proxy.sent
    assert sent["gzip"] * 3 < sent["none"], sent


async def test_events_through_logs_service_export(grpc_receiver: OtlpGrpcReceiver) -> None:
    sink = _sink(grpc_receiver, kind=EVENT_SINK)
    assert isinstance(sink, OtlpEventSink)
    await sink.export_events(EventBatch(STAMP, [synthetic_event(STAMP, n=1), synthetic_event(STAMP, n=2)]))
    await sink.close()
    assert len(grpc_receiver.log_records) == 2


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED])
async def test_unavailable_and_resource_exhausted_are_retried_with_resume(
        grpc_receiver: OtlpGrpcReceiver, code: grpc.StatusCode) -> None:
    sink = _sink(grpc_receiver, "&batch_size=2")
    batch = synthetic_batch(STAMP, nodes=1, pods=2, containers=1)
    await sink.export(synthetic_batch(STAMP, nodes=1, pods=0, containers=0))  # one request accepted
    grpc_receiver.metric_points.clear()
    grpc_receiver.fail_next(code)
    with pytest.raises(RetryableError, match=code.name):
        await sink.export(batch)
    await sink.export(batch)  # the retry of the same batch
    await sink.close()
    expected = sum(len(s.values) + len(s.labeled) for s in batch.metric_sets.values())
    assert len(grpc_receiver.metric_points) == expected


async def test_invalid_argument_is_dropped_not_retried(grpc_receiver: OtlpGrpcReceiver) -> None:
    sink = _sink(grpc_receiver)
    before = dropped_so_far(sink.name)
    grpc_receiver.fail_next(grpc.StatusCode.INVALID_ARGUMENT)
    batch = synthetic_batch(STAMP, nodes=1, pods=1, containers=1)
    with pytest.raises(PermanentError, match="INVALID_ARGUMENT") as info:
        await sink.export(batch)
    assert info.value.dropped == sum(len(s.values) + len(s.labeled) for s in batch.metric_sets.values())
    assert dropped_so_far(sink.name) == before  # the core counts a PermanentError's drops, not the sink
    await sink.close()


async def test_an_unreachable_receiver_is_retryable(grpc_receiver: OtlpGrpcReceiver) -> None:
    sink = _sink(grpc_receiver, "&timeout=2s")
    grpc_receiver.stop()
    with pytest.raises(RetryableError, match=r"UNAVAILABLE|DEADLINE_EXCEEDED"):
        await sink.export(synthetic_batch(STAMP, nodes=1, pods=0, containers=0))
    grpc_receiver.start()

    deadline = time.monotonic() + 30
    while True:  # as the sink queue does: retry until the channel has reconnected
        try:
            await sink.export(synthetic_batch(STAMP, nodes=1, pods=0, containers=0))
            break
        except RetryableError:
            assert time.monotonic() < deadline, "no export within 30 s of the receiver coming back"
            await asyncio.sleep(0.1)
    assert grpc_receiver.metric_points
    await sink.close()


def test_the_double_refuses_a_malformed_request(grpc_receiver: OtlpGrpcReceiver) -> None:
    with grpc.insecure_channel(grpc_receiver.endpoint) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export")
        with pytest.raises(grpc.RpcError) as info:
            export(b"\x0a\x05garbage-not-protobuf", timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert grpc_receiver.rejected


def test_protocol_option() -> None:
    _, config = load_plugins().configure(METRIC_SINK, "otlp:http://c:4317?protocol=GRPC")
    assert build_config(config).protocol == "grpc"
    _, config = load_plugins().configure(METRIC_SINK, "otlp:http://c:4317?protocol=thrift")
    with pytest.raises(UsageError, match="protocol"):
        build_config(config)
