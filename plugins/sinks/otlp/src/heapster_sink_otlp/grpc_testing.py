"""A strict OTLP/gRPC receiver double: the collector's ``MetricsService/Export`` and ``LogsService/Export``.

Requests are decoded by gRPC with the official messages and checked by the same validators as the
OTLP/HTTP double (:func:`~heapster_sink_otlp.testing.check_metrics`, ``check_logs``); a malformed one is
answered ``INVALID_ARGUMENT``. ``fail_next(grpc.StatusCode.UNAVAILABLE)`` injects failures.

    with OtlpGrpcReceiver() as receiver:
        ... otlp:http://{receiver.endpoint}?protocol=grpc ...
        receiver.metric_points, receiver.log_records, receiver.metadata
"""

from __future__ import annotations

from collections import deque
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from heapster.testing.grpcdouble import GrpcDouble
from heapster_sink_otlp.testing import Malformed, Point, check_logs, check_metrics

METRICS_SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"
LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"


def _strict(data: bytes, message: Any) -> Any:
    try:
        return message.FromString(data)
    except DecodeError as exc:
        raise Malformed(f"undecodable {message.__name__}: {exc}") from None


class OtlpGrpcReceiver(GrpcDouble):
    """Both export services on one loopback port, served from a background thread."""

    service = METRICS_SERVICE
    method = "Export"

    def __init__(self) -> None:
        super().__init__("otlp-grpc-receiver")
        self.metric_points: list[Point] = []
        self.log_records: list[dict[str, Any]] = []
        self.metadata: list[dict[str, str]] = []
        self.rejected: list[str] = []
        self._faults: deque[grpc.StatusCode] = deque()

    def fail_next(self, code: grpc.StatusCode, times: int = 1) -> None:
        """Answer the next ``times`` calls with ``code``."""
        with self._lock:
            self._faults.extend([code] * times)

    async def _call(self, data: bytes, context: Any, kind: str) -> bytes:
        with self._lock:
            self.metadata.append({k: v for k, v in context.invocation_metadata() if isinstance(v, str)})
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            await context.abort(fault, f"injected {fault.name}")
        try:
            if kind == "metrics":
                points = check_metrics(_strict(data, ExportMetricsServiceRequest))
                with self._lock:
                    self.metric_points.extend(points)
                return bytes(ExportMetricsServiceResponse().SerializeToString())
            records = check_logs(_strict(data, ExportLogsServiceRequest))
            with self._lock:
                self.log_records.extend(records)
            return bytes(ExportLogsServiceResponse().SerializeToString())
        except Malformed as exc:
            with self._lock:
                self.rejected.append(str(exc))
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise  # not reached: abort raises

    def handler(self) -> Any:
        async def export(data: bytes, context: Any) -> bytes:
            return await self._call(data, context, "metrics")

        return grpc.unary_unary_rpc_method_handler(export)  # raw bytes: decoded strictly above

    def generic_handlers(self) -> list[Any]:
        """Both services: metrics (:meth:`handler`) and logs."""
        async def logs(data: bytes, context: Any) -> bytes:
            return await self._call(data, context, "logs")

        logs_handler = grpc.unary_unary_rpc_method_handler(logs)
        return [grpc.method_handlers_generic_handler(METRICS_SERVICE, {"Export": self.handler()}),
                grpc.method_handlers_generic_handler(LOGS_SERVICE, {"Export": logs_handler})]
