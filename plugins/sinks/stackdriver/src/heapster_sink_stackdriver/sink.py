"""The Stackdriver metric sink: CreateTimeSeries requests of at most 200 series, sent by parallel senders.

Like Heapster: batches closer than ``min_interval_sec`` to the last export are skipped; senders
(5 plus one per ``batch_export_timeout_sec / 3`` requests) start after a random delay of up to
``initial_delay_sec`` and have ``batch_export_timeout_sec`` for the batch; outcomes are counted in
``heapster_stackdriver_requests_count{code}`` and ``heapster_stackdriver_timeseries_count{code}``.
Unlike Heapster, requests that failed for a passing reason (unavailable, deadline, quota) or were not
sent in time are retried through heapster's sink queue; requests already accepted are not sent again
(Cloud Monitoring refuses points that are not newer than the last one of their series).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from google.api_core import exceptions as api_exceptions
from google.cloud import monitoring_v3
from google.protobuf import any_pb2

from heapster import gcp, selfmetrics
from heapster.errors import PermanentError, RetryableError
from heapster.interfaces import MetricSink
from heapster.model import DataBatch
from heapster.promregistry import Counter, Summary
from heapster.resume import SentParts, chunked
from heapster_sink_stackdriver.config import StackdriverConfig
from heapster_sink_stackdriver.translate import Target, time_series

log = structlog.get_logger(__name__)

SINK_NAME = "Stackdriver Sink"
MAX_SERIES_PER_REQUEST = 200
REQUEST_LATENCY_SEC = 3
"""Heapster's estimate of one request's latency, used to size the sender pool."""

requests_count = Counter("heapster_stackdriver_requests_count", "Number of requests with return codes", ["code"],
                         registry=selfmetrics.REGISTRY)
timeseries_count = Counter("heapster_stackdriver_timeseries_count", "Number of Timeseries sent with return codes",
                           ["code"], registry=selfmetrics.REGISTRY)
request_latency = Summary("heapster_stackdriver_request_latency_milliseconds",
                          "Latency of requests to Stackdriver Monitoring API.", registry=selfmetrics.REGISTRY)

RequestPb: Any = monitoring_v3.CreateTimeSeriesRequest.pb()
SummaryPb: Any = monitoring_v3.CreateTimeSeriesSummary.pb()
TRANSIENT = (api_exceptions.ServiceUnavailable, api_exceptions.DeadlineExceeded, api_exceptions.TooManyRequests,
             api_exceptions.InternalServerError, api_exceptions.Aborted, api_exceptions.Unknown,
             api_exceptions.GatewayTimeout, api_exceptions.RetryError)


def code_name(exc: BaseException | None) -> str:
    """The gRPC code as Go's ``codes.Code.String()`` spells it (``OK``, ``InvalidArgument``, ...)."""
    if exc is None:
        return "OK"
    grpc_code = getattr(exc, "grpc_status_code", None)
    if grpc_code is None:
        return "DeadlineExceeded" if isinstance(exc, TimeoutError) else "Unknown"
    return "".join(part.capitalize() for part in grpc_code.name.split("_"))


def rejected_points(exc: api_exceptions.GoogleAPICallError, sent: int) -> int:
    """How many points of a refused request were not written (from ``CreateTimeSeriesSummary``, else all)."""
    for detail in getattr(exc, "details", None) or ():
        summary = detail
        if isinstance(detail, any_pb2.Any) and detail.Is(SummaryPb.DESCRIPTOR):  # api-core leaves it packed
            summary = SummaryPb()
            detail.Unpack(summary)
        if isinstance(summary, SummaryPb):
            return int(summary.total_point_count - summary.success_point_count)
    return sent


def build_requests(series: Sequence[Any], project: str) -> list[Any]:
    """The series in requests of at most 200, named ``projects/<project>``."""
    out = []
    for chunk in chunked(series, MAX_SERIES_PER_REQUEST):
        request = RequestPb(name=f"projects/{project}")
        request.time_series.extend(chunk)
        out.append(request)
    return out


class StackdriverSink(MetricSink):
    """Writes Heapster's time series to Cloud Monitoring through ``google-cloud-monitoring``."""

    name = SINK_NAME

    def __init__(self, config: StackdriverConfig) -> None:
        self.config = config
        self.target: Target | None = None
        self.client: Any = None
        self._last_export: datetime | None = None
        self._sent = SentParts(same=lambda new, current: new.timestamp == current.timestamp)

    async def _resolve_target(self) -> Target:
        c = self.config
        project = await gcp.find_project(c.project, lookups=not c.insecure)
        if not project:
            msg = ("no Google Cloud project: give option 'project', set $GOOGLE_PROJECT_ID, or run on GCE "
                   "(Heapster found it the same ways)")
            raise PermanentError(msg)
        zone = c.zone
        if not zone and not c.insecure:
            zone = await gcp.zone()
        if not zone and c.use_old_resources:
            msg = "no zone for the old resource model: give option 'zone' (required off GCE, as in Heapster)"
            raise PermanentError(msg)
        cluster_name, location = c.cluster_name, c.cluster_location
        if c.use_new_resources and not c.insecure:
            cluster_name = cluster_name or await gcp.metadata("instance/attributes/cluster-name")
            location = location or await gcp.metadata("instance/attributes/cluster-location")
        if c.use_new_resources and not cluster_name:
            log.warning("stackdriver.sink.no_cluster_name", sink=self.name)
        return Target(project=project, cluster_name=cluster_name, cluster_location=location or zone, zone=zone,
                      use_old_resources=c.use_old_resources, use_new_resources=c.use_new_resources)

    def _client(self) -> Any:
        c = self.config
        if c.insecure:
            import grpc
            from google.cloud.monitoring_v3.services.metric_service.transports import MetricServiceGrpcAsyncIOTransport

            channel = grpc.aio.insecure_channel(c.endpoint, options=[("grpc.initial_reconnect_backoff_ms", 100),
                                                                     ("grpc.max_reconnect_backoff_ms", 2000)])
            return monitoring_v3.MetricServiceAsyncClient(transport=MetricServiceGrpcAsyncIOTransport(channel=channel))
        from google.api_core.client_options import ClientOptions

        options = ClientOptions(api_endpoint=c.endpoint) if c.endpoint else None
        return monitoring_v3.MetricServiceAsyncClient(client_options=options)

    async def start(self) -> None:
        """Find project, zone and cluster, and create the client (PermanentError when credentials are missing)."""
        if self.client is not None:
            return
        self.target = await self._resolve_target()
        try:
            self.client = self._client()
        except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError and friends
            raise PermanentError(f"cannot create the Cloud Monitoring client: {exc}") from None
        t = self.target
        log.info("stackdriver.sink.started", sink=self.name, uri=self.config.masked_uri, project=t.project,
                 zone=t.zone, cluster_name=t.cluster_name, cluster_location=t.cluster_location,
                 old_resources=t.use_old_resources, new_resources=t.use_new_resources)

    async def close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            await client.transport.close()

    async def export(self, batch: DataBatch) -> None:
        """Send the batch's series unless it comes too soon after the last exported batch."""
        if self.client is None:
            await self.start()
        assert self.target is not None
        # A retry of the batch in progress (the same window, maybe another object: a queue on disk hands
        # back a decoded copy) goes on where it stopped; the minimum interval counts from the last batch
        # that was really written, so a batch that failed is never skipped as "too soon" after itself.
        if not self._sent.continues(batch):
            interval = timedelta(seconds=self.config.min_interval) or timedelta(microseconds=1)
            if self._last_export is not None and batch.timestamp < self._last_export + interval:
                log.debug("stackdriver.sink.skipped", timestamp=batch.timestamp.isoformat(),
                          last_export=self._last_export.isoformat(), min_interval=self.config.min_interval)
                return
        done = self._sent.begin(batch)
        target = self.target
        # The metric-set view is taken here, on the event loop (another sink may switch the shared batch
        # to columns meanwhile); the series (~25 µs each, protobuf maps) are built in a worker thread so
        # the event loop keeps scraping.
        view = DataBatch(batch.timestamp, batch.metric_sets)
        requests = await asyncio.to_thread(lambda: build_requests(list(time_series(view, target)), target.project))
        try:
            await self._send_all(requests, done)
        except PermanentError:
            self._last_export = batch.timestamp  # written, less the points refused for good
            raise
        self._last_export = batch.timestamp

    async def _send_all(self, requests: list[Any], done: set[int]) -> None:
        pending = [i for i in range(len(requests)) if i not in done]
        if not pending:
            self._sent.finish()
            return
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in pending:
            queue.put_nowait(index)
        per_worker = max(1, int(self.config.batch_export_timeout // REQUEST_LATENCY_SEC))
        workers = min(5 + len(pending) // per_worker, len(pending))
        outcome: dict[str, Any] = {"transient": None, "rejected": 0, "reason": ""}

        async def sender() -> None:
            await asyncio.sleep(random.uniform(0, self.config.initial_delay))
            while not queue.empty():
                index = queue.get_nowait()
                await self._send_one(index, requests[index], outcome, done)

        deadline = self.config.batch_export_timeout
        tasks = [asyncio.create_task(sender()) for _ in range(workers)]
        try:
            _, not_done = await asyncio.wait(tasks, timeout=deadline)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        left = [i for i in pending if i not in done]
        if not_done and left:
            outcome["transient"] = outcome["transient"] or TimeoutError(f"not sent within {deadline:g}s")
        if outcome["transient"] is not None and left:
            raise RetryableError(f"{len(left)} of {len(requests)} Cloud Monitoring requests not written: "
                                 f"{outcome['transient']}")
        self._sent.finish()
        if outcome["rejected"]:
            raise PermanentError(f"Cloud Monitoring refused {outcome['rejected']} points: {outcome['reason']}",
                                 dropped=outcome["rejected"])

    async def _send_one(self, index: int, request: Any, outcome: dict[str, Any], done: set[int]) -> None:
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            await self.client.create_time_series(request=monitoring_v3.CreateTimeSeriesRequest.wrap(request),
                                                 retry=None, timeout=self.config.batch_export_timeout)
            done.add(index)
        except TRANSIENT as exc:
            error = exc
            outcome["transient"] = outcome["transient"] or exc
        except api_exceptions.GoogleAPICallError as exc:
            error = exc
            outcome["rejected"] += rejected_points(exc, len(request.time_series))
            outcome["reason"] = outcome["reason"] or getattr(exc, "message", str(exc))
            done.add(index)  # a refusal is final: the retry must not send it again
        except Exception as exc:  # anything else (e.g. an unreadable error status): retry rather than lose it
            error = exc
            outcome["transient"] = outcome["transient"] or exc
        finally:
            code = code_name(error)
            requests_count.labels(code=code).inc()
            timeseries_count.labels(code=code).inc(len(request.time_series))
            request_latency.observe((time.perf_counter() - started) * 1000)
        if error is not None:
            log.warning("stackdriver.sink.request.failed", sink=self.name, code=code,
                        series=len(request.time_series), error=getattr(error, "message", str(error)))


