"""A strict OTLP/HTTP receiver for tests: decodes with the official ``opentelemetry-proto`` messages.

No OpenTelemetry Collector installs from the registries this project uses, so tests talk to this
double instead. It answers like the collector's ``otlphttp`` receiver (200 with an
``Export*ServiceResponse``; 415 for a content type other than protobuf; 400 for a body that does
not gunzip or decode) and is stricter about the data model: a request with an unnamed metric, a
metric without exactly one data kind, a point without a value or time, a start time after its time,
duplicate or empty attribute keys, or unknown fields is refused
with 400 and recorded in ``rejected``.

    with OtlpReceiver() as receiver:
        ... send to receiver.url ...
        receiver.points()  # every data point received, flattened
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from heapster.testing.net import HttpServerThread, decoded_body

PROTOBUF = "application/x-protobuf"
UNSPECIFIED = AggregationTemporality.AGGREGATION_TEMPORALITY_UNSPECIFIED


class Malformed(ValueError):
    """The request breaks the OTLP wire format or data model."""


@dataclass(frozen=True, slots=True)
class Point:
    """One received number data point, flattened with its resource and metric."""

    resource: dict[str, str]
    name: str
    kind: str
    """``gauge`` or ``sum``."""
    value: float
    time_unix_nano: int
    start_time_unix_nano: int
    attributes: dict[str, str]
    unit: str
    monotonic: bool


def _attributes(values: Iterable[KeyValue], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in values:
        if not kv.key:
            raise Malformed(f"empty attribute key in {where}")
        if kv.key in out:
            raise Malformed(f"duplicate attribute {kv.key!r} in {where}")
        kind = kv.value.WhichOneof("value")
        if kind is None:
            raise Malformed(f"attribute {kv.key!r} without a value in {where}")
        out[kv.key] = getattr(kv.value, kind)
    return out


def _no_unknown_fields(message: Message) -> None:
    """Refuse fields the official schema does not know (re-encoding drops nothing otherwise)."""
    clean = type(message)()
    clean.CopyFrom(message)
    clean.DiscardUnknownFields()
    if clean.ByteSize() != message.ByteSize():
        raise Malformed("unknown fields in request")


def check_metrics(request: ExportMetricsServiceRequest) -> list[Point]:
    """The points of a valid request; :class:`Malformed` names the first problem."""
    _no_unknown_fields(request)
    points: list[Point] = []
    for rm in request.resource_metrics:
        resource = _attributes(rm.resource.attributes, "resource")
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if not metric.name:
                    raise Malformed("metric without a name")
                kind = metric.WhichOneof("data")
                if kind not in ("gauge", "sum"):
                    raise Malformed(f"metric {metric.name!r} has data kind {kind!r}")
                data = getattr(metric, kind)
                if kind == "sum" and data.aggregation_temporality == UNSPECIFIED:
                    raise Malformed(f"sum {metric.name!r} without aggregation temporality")
                if not data.data_points:
                    raise Malformed(f"metric {metric.name!r} without data points")
                for dp in data.data_points:
                    value_kind = dp.WhichOneof("value")
                    if value_kind is None:
                        raise Malformed(f"point of {metric.name!r} without a value")
                    if not dp.time_unix_nano:
                        raise Malformed(f"point of {metric.name!r} without a time")
                    if dp.start_time_unix_nano > dp.time_unix_nano:
                        raise Malformed(f"point of {metric.name!r} starts at {dp.start_time_unix_nano}, "
                                        f"after its time {dp.time_unix_nano}")
                    points.append(Point(
                        resource=resource, name=metric.name, kind=kind, value=getattr(dp, value_kind),
                        time_unix_nano=dp.time_unix_nano, start_time_unix_nano=dp.start_time_unix_nano,
                        attributes=_attributes(dp.attributes, f"point of {metric.name!r}"), unit=metric.unit,
                        monotonic=bool(kind == "sum" and data.is_monotonic)))
    return points


def check_logs(request: ExportLogsServiceRequest) -> list[dict[str, Any]]:
    """The log records of a valid request, flattened; :class:`Malformed` names the first problem."""
    _no_unknown_fields(request)
    records: list[dict[str, Any]] = []
    for rl in request.resource_logs:
        resource = _attributes(rl.resource.attributes, "resource")
        for sl in rl.scope_logs:
            for record in sl.log_records:
                if not record.time_unix_nano and not record.observed_time_unix_nano:
                    raise Malformed("log record without a time")
                body_kind = record.body.WhichOneof("value")
                records.append({
                    "resource": resource, "time_unix_nano": record.time_unix_nano,
                    "observed_time_unix_nano": record.observed_time_unix_nano,
                    "severity_number": record.severity_number, "severity_text": record.severity_text,
                    "body": getattr(record.body, body_kind) if body_kind else None,
                    "attributes": _attributes(record.attributes, "log record")})
    return records


class OtlpReceiver(HttpServerThread):
    """The strict receiver, served from its own thread on a free loopback port."""

    def __init__(self) -> None:
        self.metric_points: list[Point] = []
        self.log_records: list[dict[str, Any]] = []
        self.metric_requests = 0
        self.log_requests = 0
        self.rejected: list[str] = []
        self.headers: list[dict[str, str]] = []
        self._faults: deque[int] = deque()
        self._lock = threading.Lock()
        super().__init__(self._app, name="otlp-receiver", auto_decompress=False)  # checks gzip itself

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status`` (an outage, a throttle, a 4xx)."""
        with self._lock:
            self._faults.extend([status] * times)

    def points(self) -> list[Point]:
        with self._lock:
            return list(self.metric_points)

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.log_records)

    # --- serving ---------------------------------------------------------------------------------
    async def _handle(self, request: web.Request, kind: str) -> web.Response:
        with self._lock:
            self.headers.append(dict(request.headers))
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            return web.Response(status=fault, text=f"injected HTTP {fault}")
        if request.content_type != PROTOBUF:
            return self._reject(415, f"unsupported content type {request.content_type!r}")
        try:
            body = await decoded_body(request)
        except ValueError as exc:
            return self._reject(400, str(exc))
        try:
            if kind == "metrics":
                points = check_metrics(ExportMetricsServiceRequest.FromString(body))
                with self._lock:
                    self.metric_points.extend(points)
                    self.metric_requests += 1
                response: Message = ExportMetricsServiceResponse()
            else:
                records = check_logs(ExportLogsServiceRequest.FromString(body))
                with self._lock:
                    self.log_records.extend(records)
                    self.log_requests += 1
                response = ExportLogsServiceResponse()
        except (DecodeError, Malformed) as exc:
            return self._reject(400, f"{type(exc).__name__}: {exc}")
        return web.Response(body=response.SerializeToString(), content_type=PROTOBUF)

    def _reject(self, status: int, reason: str) -> web.Response:
        with self._lock:
            self.rejected.append(reason)
        return web.Response(status=status, text=reason)

    async def _metrics(self, request: web.Request) -> web.Response:
        return await self._handle(request, "metrics")

    async def _logs(self, request: web.Request) -> web.Response:
        return await self._handle(request, "logs")

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 2**20)
        app.router.add_post("/v1/metrics", self._metrics)
        app.router.add_post("/v1/logs", self._logs)
        return app
