"""A strict Cloud Monitoring v3 double for tests: ``MetricService.CreateTimeSeries`` over gRPC on loopback.

It checks what the real API checks for the series Heapster writes, and writes the valid series of a
request even when others fail (as Cloud Monitoring does), answering ``INVALID_ARGUMENT`` with a
``CreateTimeSeriesSummary`` detail then:

* ``name`` is ``projects/<id>``; 1 to 200 series per request; no series twice in one request;
* known metric type with its kind and value type, only its metric labels; resource type with exactly
  its labels, ``project_id`` equal to the request's project;
* exactly one point; gauges start = end (or no start), cumulative start < end; the value field
  matching the value type; the end time within the last 25 hours and at most 5 minutes ahead;
* per series, each point newer than the last one written, and at least 5 s after it.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.cloud import monitoring_v3
from google.protobuf import empty_pb2
from google.rpc import code_pb2, status_pb2

from heapster.testing.grpcdouble import GrpcDouble
from heapster.testing.servers import started
from heapster_sink_stackdriver.descriptors import CUMULATIVE, DESCRIPTORS, DOUBLE, RESOURCE_LABELS

RequestPb: Any = monitoring_v3.CreateTimeSeriesRequest.pb()
SummaryPb: Any = monitoring_v3.CreateTimeSeriesSummary.pb()
SERVICE, METHOD = "google.monitoring.v3.MetricService", "CreateTimeSeries"
MAX_SERIES = 200
MIN_SAMPLE_PERIOD = timedelta(seconds=5)
_PROJECT = re.compile(r"^projects/([a-z][-a-z0-9]{4,28}[a-z0-9]|[0-9]+)$")

SeriesKey = tuple[str, tuple[tuple[str, str], ...], str, tuple[tuple[str, str], ...]]


def series_key(series: Any) -> SeriesKey:
    """What identifies a time series: metric type and labels, resource type and labels."""
    return (series.metric.type, tuple(sorted(series.metric.labels.items())), series.resource.type,
            tuple(sorted(series.resource.labels.items())))


class MonitoringServer(GrpcDouble):
    """The double; ``points`` maps each series to the (end time, start time, value) points written."""

    service = SERVICE
    method = METHOD

    def __init__(self) -> None:
        super().__init__("monitoring-double")
        self.points: dict[SeriesKey, list[tuple[datetime, datetime, int | float]]] = {}
        self.requests: list[int] = []
        """Series per request received, in order."""
        self.duplicates: list[SeriesKey] = []
        self.unavailable_after: int | None = None
        """When set, requests after this many have been received are answered UNAVAILABLE."""

    def handler(self) -> Any:
        return grpc.unary_unary_rpc_method_handler(self._create_time_series, request_deserializer=RequestPb.FromString,
                                                   response_serializer=empty_pb2.Empty.SerializeToString)

    def snapshot(self) -> dict[SeriesKey, list[tuple[datetime, datetime, int | float]]]:
        """A copy of every series' points."""
        with self._lock:
            return {key: list(points) for key, points in self.points.items()}

    def value_at(self, key: SeriesKey, end: datetime) -> int | float | None:
        with self._lock:
            return next((v for e, _, v in self.points.get(key, []) if e == end), None)

    async def _create_time_series(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self.refuse_if_failing(context)
        if self.unavailable_after is not None and len(self.requests) >= self.unavailable_after:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the test double is unavailable on purpose")
        match = _PROJECT.match(request.name)
        if not match:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Name {request.name!r} is not a valid project name")
        count = len(request.time_series)
        if not 1 <= count <= MAX_SERIES:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Field timeSeries had an invalid value: "
                                f"between 1 and {MAX_SERIES} TimeSeries can be written in a single request")
        with self._lock:
            self.requests.append(count)
            errors = self._write(request, match.group(1) if match else "")
        if errors:
            # Like the real API: errors grouped by message, and a message of bounded length.
            grouped: dict[str, int] = {}
            for message in errors:
                grouped[message.partition(": ")[2]] = grouped.get(message.partition(": ")[2], 0) + 1
            summary = SummaryPb(total_point_count=count, success_point_count=count - len(errors))
            for message, points in grouped.items():
                summary.errors.add(status=status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message),
                                   point_count=points)
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT,
                                       message=f"One or more TimeSeries could not be written: {errors[0]}{more}")
            status.details.add().Pack(summary)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, status.message,
                                trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()),))
        return empty_pb2.Empty()

    def _write(self, request: Any, project: str) -> list[str]:
        errors: list[str] = []
        seen: set[SeriesKey] = set()
        now = datetime.now(UTC)
        for i, series in enumerate(request.time_series):
            key = series_key(series)
            if key in seen:
                self.duplicates.append(key)
            error = self._check(series, project, now) or ("Duplicate TimeSeries encountered. Only one point can be "
                                                          "written per TimeSeries per request." if key in seen else "")
            seen.add(key)
            point = series.points[0] if len(series.points) == 1 else None
            if not error and point is not None:
                end = point.interval.end_time.ToDatetime(UTC)
                start = point.interval.start_time.ToDatetime(UTC) if point.interval.HasField("start_time") else end
                earlier = self.points.get(key, [])
                if earlier and end <= earlier[-1][0]:
                    error = ("Points must be written in order. One or more of the points specified had an older "
                             "start time than the most recent point.")
                elif earlier and end - earlier[-1][0] < MIN_SAMPLE_PERIOD:
                    error = ("One or more points were written more frequently than the maximum sampling period "
                             "configured for the metric.")
                else:
                    value = point.value.double_value if series.value_type == DOUBLE else point.value.int64_value
                    self.points.setdefault(key, []).append((end, start, value))
            if error:
                errors.append(f"timeSeries[{i}]: {error}")
        return errors

    @staticmethod
    def _check(series: Any, project: str, now: datetime) -> str:
        descriptor = DESCRIPTORS.get(series.metric.type)
        if descriptor is None:
            return f"Unknown metric: {series.metric.type}"
        if series.metric_kind != descriptor.kind or series.value_type != descriptor.value_type:
            return f"The metric kind or value type of {series.metric.type} does not match its descriptor"
        extra = set(series.metric.labels) - descriptor.labels
        if extra:
            return f"Unrecognized metric labels {sorted(extra)} for {series.metric.type}"
        schema = RESOURCE_LABELS.get(series.resource.type)
        if schema is None:
            return f"Unknown monitored resource type {series.resource.type!r}"
        if set(series.resource.labels) != set(schema):
            return f"Resource labels of {series.resource.type} must be exactly {', '.join(schema)}"
        if series.resource.labels["project_id"] != project:
            return "The resource's project_id does not match the request's project"
        if len(series.points) != 1:
            return "Only one point can be written per TimeSeries per request"
        point = series.points[0]
        interval = point.interval
        if not interval.HasField("end_time"):
            return "The end time of the point is missing"
        end = interval.end_time.ToDatetime(UTC)
        if not now - timedelta(hours=25) <= end <= now + timedelta(minutes=5):
            return "Points must be written within 25 hours in the past and 5 minutes in the future"
        has_start = interval.HasField("start_time")
        if descriptor.kind == CUMULATIVE:
            if not has_start or interval.start_time.ToDatetime(UTC) >= end:
                return "The start time must be before the end time for the cumulative metric"
        elif has_start and interval.start_time != interval.end_time:
            return "The start time must be equal to the end time for the gauge metric"
        wanted = "double_value" if descriptor.value_type == DOUBLE else "int64_value"
        if point.value.WhichOneof("value") != wanted:
            return f"Value type for metric {series.metric.type} must be {wanted.removesuffix('_value').upper()}"
        return ""


def monitoring_server() -> contextlib.AbstractContextManager[MonitoringServer]:
    """A started double for the duration of the block."""
    return started(MonitoringServer(), "shutdown")
