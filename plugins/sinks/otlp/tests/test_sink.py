"""The sinks against the strict receiver: gzip or not, headers, retry 5xx/429 with resume, 4xx dropped,
options; the receiver itself refuses malformed requests; the core sink contracts."""

from __future__ import annotations

import gzip
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from heapster.errors import PermanentError, RetryableError, UsageError
from heapster.model import DataBatch, EventBatch
from heapster.plugins import EVENT_SINK, METRIC_SINK, load_plugins
from heapster.testing import EventSinkContract, ServerOutage, SinkContract, synthetic_batch
from heapster_sink_otlp.config import OtlpConfig, build_config
from heapster_sink_otlp.metrics import encode_metrics, unix_nano
from heapster_sink_otlp.sink import OtlpEventSink, OtlpMetricSink
from heapster_sink_otlp.testing import OtlpReceiver

STAMP = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)


def _configure(spec: str, kind: str = METRIC_SINK) -> OtlpConfig:
    _, config = load_plugins().configure(kind, spec)
    return build_config(config)


def _series(batch: DataBatch) -> int:
    return sum(len(s.values) + len(s.labeled) for s in batch.metric_sets.values())


@pytest.mark.parametrize("compression", ["gzip", "none"])
async def test_every_series_arrives_with_the_chosen_compression_and_headers(
        receiver: OtlpReceiver, compression: str) -> None:
    sink = OtlpMetricSink(_configure(
        f"otlp:{receiver.url}?compression={compression}&headers=Authorization:%20Bearer%20t0k&batch_size=5"))
    batch = synthetic_batch(STAMP, nodes=2, pods=2, containers=1)
    await sink.export(batch)
    await sink.close()
    assert len(receiver.points()) == _series(batch)
    assert receiver.metric_requests == -(-len(batch.metric_sets) // 5)
    headers = receiver.headers[-1]
    assert headers.get("Content-Encoding") == ("gzip" if compression == "gzip" else None)
    assert headers["Authorization"] == "Bearer t0k"
    assert headers["Content-Type"] == "application/x-protobuf"
    assert not receiver.rejected


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_5xx_and_429_are_retryable_and_resume(receiver: OtlpReceiver, status: int) -> None:
    sink = OtlpMetricSink(_configure(f"otlp:{receiver.url}?batch_size=3"))
    batch = synthetic_batch(STAMP, nodes=2, pods=1, containers=1)  # 8 sets: 3 requests
    await sink.export(synthetic_batch(STAMP, nodes=1, pods=0, containers=0))
    before = len(receiver.points())
    receiver.fail_next(status)
    with pytest.raises(RetryableError, match=f"HTTP {status}"):
        await sink.export(batch)
    assert len(receiver.points()) == before
    await sink.export(batch)
    assert len(receiver.points()) - before == _series(batch)  # nothing lost, nothing twice
    await sink.close()


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
async def test_4xx_is_permanent_and_counted(receiver: OtlpReceiver, status: int) -> None:
    sink = OtlpMetricSink(_configure(f"otlp:{receiver.url}?batch_size=100"))
    batch = synthetic_batch(STAMP, nodes=1, pods=1, containers=1)
    receiver.fail_next(status)
    with pytest.raises(PermanentError, match=f"HTTP {status}") as info:
        await sink.export(batch)
    assert info.value.dropped == _series(batch)
    await sink.close()


async def test_unreachable_is_retryable_and_header_values_stay_out_of_errors() -> None:
    sink = OtlpMetricSink(_configure("otlp:http://127.0.0.1:9?headers=X-Api-Key:%20s3cr3tkey&timeout=2s"))
    with pytest.raises(RetryableError, match="unreachable") as info:
        await sink.export(synthetic_batch(STAMP, nodes=1, pods=0, containers=0))
    assert "s3cr3tkey" not in str(info.value)
    await sink.close()
    assert _configure("otlp:http://h:4318?headers=X-Api-Key:%20s3cr3tkey").redact("key s3cr3tkey") == "key xxxxx"


def _post(receiver: OtlpReceiver, body: bytes, content_type: str = "application/x-protobuf",
          encoding: str = "") -> int:
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    request = urllib.request.Request(f"{receiver.url}/v1/metrics", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_receiver_is_strict(receiver: OtlpReceiver) -> None:
    good = next(encode_metrics(synthetic_batch(STAMP, nodes=1, pods=0, containers=0)))
    assert _post(receiver, good) == 200
    assert _post(receiver, gzip.compress(good), encoding="gzip") == 200
    assert _post(receiver, good, content_type="application/json") == 415
    assert _post(receiver, good, encoding="gzip") == 400  # not gzip
    assert _post(receiver, good, encoding="br") == 400
    assert _post(receiver, b"\xff\xff\xff\xff") == 400
    assert _post(receiver, good + b"\xa2\x06\x03abc") == 400  # unknown field 100
    unnamed = ExportMetricsServiceRequest.FromString(good)
    unnamed.resource_metrics[0].scope_metrics[0].metrics[0].name = ""
    assert _post(receiver, unnamed.SerializeToString()) == 400
    backwards = ExportMetricsServiceRequest.FromString(good)
    metric: Metric = next(m for m in backwards.resource_metrics[0].scope_metrics[0].metrics if m.HasField("sum"))
    metric.sum.data_points[0].start_time_unix_nano = metric.sum.data_points[0].time_unix_nano + 1
    assert _post(receiver, backwards.SerializeToString()) == 400
    no_value = ExportMetricsServiceRequest.FromString(good)
    gauge = next(m for m in no_value.resource_metrics[0].scope_metrics[0].metrics if m.HasField("gauge"))
    gauge.gauge.data_points[0].ClearField("as_int")
    assert _post(receiver, no_value.SerializeToString()) == 400
    assert receiver.metric_requests == 2 and len(receiver.rejected) == 8


def test_options() -> None:
    config = _configure("otlp:https://collector:4318/?compression=none&cluster_name=prod&batch_size=10"
                        "&headers=A:%20b&headers=C=d&metrics_path=/otlp/v1/metrics&timeout=3s")
    assert (config.endpoint, config.gzip, config.cluster_name, config.batch_size, config.timeout) == (
        "https://collector:4318", False, "prod", 10, 3.0)
    assert config.headers == {"A": "b", "C": "d"}
    assert config.metrics_path == "/otlp/v1/metrics" and config.logs_path == "/v1/logs"
    assert _configure("otlp:http://c:4318", EVENT_SINK).gzip
    for spec, word in [("otlp:", "URL"), ("otlp:http://c:4318?compression=zstd", "compression"),
                       ("otlp:http://c:4318?batch_size=0", "batch_size"), ("otlp:http://c:4318?headers=x", "headers"),
                       ("otlp:http://c:4318?logs_path=v1", "logs_path"), ("otlp:http://c:4318?bogus=1", "bogus")]:
        with pytest.raises(UsageError, match=word):
            _configure(spec)


class TestOtlpMetricContract(SinkContract):
    @pytest.fixture(autouse=True)
    def _receiver(self, receiver: OtlpReceiver) -> None:
        self.receiver = receiver

    @pytest.fixture
    def contract_sink(self, receiver: OtlpReceiver) -> OtlpMetricSink:
        return OtlpMetricSink(_configure(f"otlp:{receiver.url}?batch_size=2"))

    @pytest.fixture
    def contract_outage(self, receiver: OtlpReceiver) -> ServerOutage:
        return ServerOutage(receiver)

    @pytest.fixture
    def contract_bad_batch(self, receiver: OtlpReceiver) -> DataBatch:
        """The receiver refuses the next request with 400 (as a collector refusing a bad payload)."""
        receiver.fail_next(400)
        return synthetic_batch(STAMP, nodes=1, pods=0, containers=0)

    async def contains(self, sink: OtlpMetricSink, batch: DataBatch) -> bool:  # type: ignore[override]
        at = unix_nano(batch.timestamp)
        return sum(1 for p in self.receiver.points() if p.time_unix_nano == at) == _series(batch)


class TestOtlpEventContract(EventSinkContract):
    @pytest.fixture(autouse=True)
    def _receiver(self, receiver: OtlpReceiver) -> None:
        self.receiver = receiver

    @pytest.fixture
    def contract_event_sink(self, receiver: OtlpReceiver) -> OtlpEventSink:
        return OtlpEventSink(_configure(f"otlp:{receiver.url}", EVENT_SINK))

    @pytest.fixture
    def contract_outage(self, receiver: OtlpReceiver) -> ServerOutage:
        return ServerOutage(receiver)

    async def contains_events(self, sink: OtlpEventSink, batch: EventBatch) -> bool:  # type: ignore[override]
        names = {r["attributes"].get("k8s.event.name") for r in self.receiver.records()}
        return all(e["metadata"]["name"] in names for e in batch.events)
