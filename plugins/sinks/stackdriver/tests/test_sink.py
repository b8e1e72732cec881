"""Requests as Cloud Monitoring takes them: at most 200 series, retries that never resend a written point."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from heapster import selfmetrics
from heapster.errors import PermanentError, RetryableError
from heapster.model import DataBatch, MetricSet, MetricType, MetricValue
from heapster.testing import synthetic_batch
from heapster_sink_stackdriver.testing import MonitoringServer
from heapster_sink_stackdriver.translate import time_series

NOW = datetime.now(UTC).replace(microsecond=0)


def wide_batch(when: datetime, nodes: int) -> DataBatch:
    """``nodes`` nodes with 3 old-model series each."""
    start = when - timedelta(hours=1)
    sets = {f"node:n{i}": MetricSet(labels={"type": "node", "nodename": f"n{i}", "host_id": f"h{i}"},
                                    values={"cpu/usage": MetricValue(10**9, MetricType.CUMULATIVE),
                                            "network/rx": MetricValue(5, MetricType.CUMULATIVE),
                                            "memory/working_set": MetricValue(7)},
                                    collection_start=start)
            for i in range(nodes)}
    return DataBatch(when, sets)


def sample(name: str, labels: dict[str, str]) -> float:
    return selfmetrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_requests_carry_at_most_200_series(make_sink, server: MonitoringServer) -> None:
    sink = await make_sink()
    before = len(server.requests)
    ok_before = sample("heapster_stackdriver_timeseries_count_total", {"code": "OK"})
    await sink.export(wide_batch(NOW - timedelta(minutes=5), 150))  # 450 series
    assert sorted(server.requests[before:]) == [50, 200, 200]
    assert sample("heapster_stackdriver_timeseries_count_total", {"code": "OK"}) - ok_before == 450


async def test_a_retry_sends_only_the_requests_not_yet_written(make_sink, server: MonitoringServer) -> None:
    sink = await make_sink()
    batch = wide_batch(NOW - timedelta(minutes=4), 150)
    server.unavailable_after = len(server.requests) + 1
    with pytest.raises(RetryableError, match="2 of 3"):
        await sink.export(batch)
    server.unavailable_after = None
    before = len(server.requests)
    await sink.export(batch)  # the sink queue's retry: same batch object
    assert len(server.requests) - before == 2
    assert sum(len(points) for key, points in server.snapshot().items()
               if dict(key[3])["project_id"] == sink.target.project) == 450  # each point once, none refused


async def test_batches_within_min_interval_are_skipped(make_sink, server: MonitoringServer) -> None:
    sink = await make_sink("min_interval_sec=100")
    before = len(server.requests)
    await sink.export(wide_batch(NOW - timedelta(minutes=10), 1))
    await sink.export(wide_batch(NOW - timedelta(minutes=10) + timedelta(seconds=60), 1))  # skipped
    await sink.export(wide_batch(NOW - timedelta(minutes=10) + timedelta(seconds=120), 1))
    assert len(server.requests) - before == 2


async def test_refused_points_are_a_permanent_failure_counted_from_the_summary(make_sink,
                                                                               server: MonitoringServer) -> None:
    sink = await make_sink()
    batch = wide_batch(NOW - timedelta(minutes=3), 2)
    await sink.export(batch)
    again = wide_batch(NOW - timedelta(minutes=3) + timedelta(seconds=2), 3)  # under the 5 s sampling period
    refused_before = sample("heapster_stackdriver_requests_count_total", {"code": "InvalidArgument"})
    with pytest.raises(PermanentError, match="sampling period") as caught:
        await sink.export(again)
    assert caught.value.dropped == 6  # n0 and n1 refused, n2 (new) written: counted from the summary
    assert any(dict(key[3]).get("instance_id") == "h2" and dict(key[3])["project_id"] == sink.target.project
               for key in server.snapshot())
    assert sample("heapster_stackdriver_requests_count_total", {"code": "InvalidArgument"}) - refused_before == 1


async def test_the_double_refuses_what_cloud_monitoring_refuses(make_sink, server: MonitoringServer) -> None:
    from google.api_core import exceptions
    from google.cloud import monitoring_v3

    sink = await make_sink("use_new_resources=true")
    series = list(time_series(synthetic_batch(NOW - timedelta(minutes=2), nodes=2, pods=2, containers=2),
                              sink.target))
    request = monitoring_v3.CreateTimeSeriesRequest.pb()(name=f"projects/{sink.target.project}")
    request.time_series.extend(series[:1] * 2)  # the same series twice
    with pytest.raises(exceptions.InvalidArgument, match="Duplicate TimeSeries"):
        await sink.client.create_time_series(request=monitoring_v3.CreateTimeSeriesRequest.wrap(request))
    too_many = monitoring_v3.CreateTimeSeriesRequest.pb()(name=f"projects/{sink.target.project}")
    too_many.time_series.extend(wide_batch_series(sink, 70))
    with pytest.raises(exceptions.InvalidArgument, match="200"):
        await sink.client.create_time_series(request=monitoring_v3.CreateTimeSeriesRequest.wrap(too_many))
    gauge = series[[s.metric_kind for s in series].index(1)]
    gauge.points[0].interval.start_time.seconds -= 60
    bad = monitoring_v3.CreateTimeSeriesRequest.pb()(name=f"projects/{sink.target.project}")
    bad.time_series.append(gauge)
    with pytest.raises(exceptions.InvalidArgument, match="equal to the end time"):
        await sink.client.create_time_series(request=monitoring_v3.CreateTimeSeriesRequest.wrap(bad))


def wide_batch_series(sink, nodes: int) -> list:
    return list(time_series(wide_batch(NOW - timedelta(minutes=1), nodes), sink.target))


async def test_an_outage_is_retryable(make_sink, server: MonitoringServer) -> None:
    sink = await make_sink()
    server.fail_with = grpc.StatusCode.UNAVAILABLE
    with pytest.raises(RetryableError):
        await sink.export(wide_batch(NOW - timedelta(minutes=6), 1))
