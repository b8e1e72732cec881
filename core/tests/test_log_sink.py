"""The log sink prints batches as Heapster's log sink did."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from heapster.model import DataBatch, EventBatch, LabeledMetric, MetricSet, MetricType, MetricValue
from heapster.sinks.log import LogEventSink, LogSink


async def test_batch_format_matches_heapster() -> None:
    ts = datetime(2018, 3, 2, 10, 0, tzinfo=UTC)
    batch = DataBatch(ts, {
        "node:n1": MetricSet(
            labels={"type": "node", "nodename": "n1"},
            values={"memory/usage": MetricValue(1024), "cpu/node_utilization": MetricValue(0.25)},
            labeled=[LabeledMetric("filesystem/usage", {"resource_id": "/"}, 77)],
            scrape_time=ts, collection_start=datetime(2018, 3, 2, 9, 0, tzinfo=UTC),
            create_time=datetime(2018, 3, 1, tzinfo=UTC),  # not printed: Heapster printed CollectionStartTime
        ),
        "cluster": MetricSet(labels={"type": "cluster"}, values={"cpu/usage": MetricValue(5, MetricType.CUMULATIVE)}),
    })
    out = io.StringIO()
    await LogSink(out).export(batch)
    assert out.getvalue() == (
        "DataBatch     Timestamp: 2018-03-02 10:00:00 +0000 UTC\n\n"
        "MetricSet: cluster\n"
        "   Scrape time: 0001-01-01 00:00:00 +0000 UTC -6795364578871345152\n"
        "   Create time: 0001-01-01 00:00:00 +0000 UTC -6795364578871345152\n"
        "   Labels:\n      type = cluster\n"
        "   Metrics:\n      cpu/usage = 5\n"
        "   Labeled Metrics:\n\n"
        "MetricSet: node:n1\n"
        "   Scrape time: 2018-03-02 10:00:00 +0000 UTC 1519984800000000000\n"
        "   Create time: 2018-03-02 09:00:00 +0000 UTC 1519981200000000000\n"
        "   Labels:\n      nodename = n1\n      type = node\n"
        "   Metrics:\n      cpu/node_utilization = 0.250000\n      memory/usage = 1024\n"
        "   Labeled Metrics:\n      filesystem/usage = 77\n         resource_id = /\n\n"
    )


async def test_event_format() -> None:
    """Heapster's ``fmt.Sprintf("   %s (cnt:%d): %s", event.LastTimestamp, ...)``: a metav1.Time prints as Go's
    time.Time.String() (vendored apimachinery's ``func (t Time) String()``), not as its RFC 3339 JSON."""
    out = io.StringIO()
    events = [{"lastTimestamp": "2019-08-29T18:38:20Z", "count": 3, "message": "Started container"},
              {"eventTime": "2019-08-29T18:38:21.123456Z", "message": "Scheduled"},
              {"message": "no time"}]
    await LogEventSink(out).export_events(EventBatch(datetime(2019, 8, 29, 18, 39, tzinfo=UTC), events))
    assert out.getvalue() == (
        "EventBatch     Timestamp: 2019-08-29 18:39:00 +0000 UTC\n"
        "   2019-08-29 18:38:20 +0000 UTC (cnt:3): Started container\n"
        "   2019-08-29 18:38:21.123456 +0000 UTC (cnt:0): Scheduled\n"
        "   0001-01-01 00:00:00 +0000 UTC (cnt:0): no time\n"
    )
