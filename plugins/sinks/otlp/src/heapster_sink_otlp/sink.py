"""The ``otlp`` metric and event sinks: encode, compress, POST, sort the outcome."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

from heapster import selfmetrics
from heapster.errors import PermanentError, RetryableError
from heapster.interfaces import EventSink, MetricSink
from heapster.model import DataBatch, EventBatch
from heapster.resume import SentParts
from heapster_sink_otlp.config import OtlpConfig
from heapster_sink_otlp.logs import encode_events
from heapster_sink_otlp.metrics import encode_metrics_counted
from heapster_sink_otlp.transport import OtlpTransport, PostResult

if TYPE_CHECKING:
    from heapster_sink_otlp.grpc_transport import GrpcTransport

log = structlog.get_logger(__name__)


def _partially_rejected(result: PostResult, response_type: Any, field: str) -> int:
    """Items a 2xx answer says it rejected (``partial_success``); 0 when the body is empty or odd."""
    if not result.body:
        return 0
    try:
        response = response_type.FromString(result.body)
    except Exception:  # a receiver answering 200 with another body has accepted everything
        return 0
    return int(getattr(response.partial_success, field, 0))


class _OtlpSinkBase:
    """The request loop both sinks share: resume after a retryable failure, count rejections."""

    name = "OTLP Sink"

    def __init__(self, config: OtlpConfig) -> None:
        self.config = config
        self.transport: OtlpTransport | GrpcTransport
        if config.protocol == "grpc":
            from heapster_sink_otlp.grpc_transport import GrpcTransport

            self.transport = GrpcTransport(config)
        else:
            self.transport = OtlpTransport(config)
        self._sent = SentParts()

    async def _send(self, batch: object, path: str, bodies: list[tuple[bytes, int]], response_type: Any,
                    field: str) -> None:
        rejected, reason = 0, ""
        for _, (body, items) in self._sent.pending(batch, bodies):
            result = await self.transport.post(path, await self.transport.compress(body))
            if result.retryable:
                raise RetryableError(f"OTLP export to {self.config.endpoint}{path} failed: {result.describe()}")
            if not result.ok:
                rejected += items
                reason = reason or f"OTLP receiver refused the export ({result.describe()})"
                continue
            partial = _partially_rejected(result, response_type, field)
            if partial:
                selfmetrics.sink_dropped_items.labels(sink=self.name).inc(partial)
                log.warning("otlp.export.partial", sink=self.name, rejected=partial)
        if rejected:
            raise PermanentError(reason, dropped=rejected)

    async def close(self) -> None:
        await self.transport.close()


class OtlpMetricSink(_OtlpSinkBase, MetricSink):
    """Sends each batch as OTLP metrics: one resource per metric set, ``batch_size`` resources per request."""

    async def export(self, batch: DataBatch) -> None:
        """Encode in a thread, then post request after request."""
        bodies = await asyncio.to_thread(self._encode, batch)
        await self._send(batch, self.config.metrics_path, bodies, ExportMetricsServiceResponse,
                         "rejected_data_points")

    def _encode(self, batch: DataBatch) -> list[tuple[bytes, int]]:
        return list(encode_metrics_counted(batch, self.config.batch_size, self.config.cluster_name))


class OtlpEventSink(_OtlpSinkBase, EventSink):
    """Sends each event batch as OTLP log records."""

    name = "OTLP Event Sink"

    async def export_events(self, batch: EventBatch) -> None:
        """One logs request per batch; nothing is sent for an empty batch."""
        if not batch.events:
            return
        body = encode_events(batch)
        await self._send(batch, self.config.logs_path, [(body, len(batch.events))], ExportLogsServiceResponse,
                         "rejected_log_records")
