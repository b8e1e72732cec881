"""Awkward names, values and strings survive the trip through line protocol into a real influxd."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np

from heapster.model import DataBatch, EventBatch, LabeledMetric, MetricSet, MetricValue
from heapster_sink_influxdb.lineproto import MetricSchema, format_value, line_parts

TS = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
TS_NS = 1735787045_000000000


async def test_special_characters_in_names_and_tags_round_trip(make_sink, server, db_name) -> None:
    sink = await make_sink("pod_id_index=false")
    labels = {"type": "node", "nodename": "node one,a=b", "labels": 'k:"v",x:C:\\dir', "schedulable": ""}
    await sink.export(DataBatch(TS, {"node:x": MetricSet(labels, {"custom/my metric,x": MetricValue(1)})}))

    assert server.points(db_name) == {(
        "custom/my metric,x",
        frozenset({("type", "node"), ("nodename", "node one,a=b"), ("labels", 'k:"v",x:C:\\dir'),
                   ("cluster_name", "default")}),
        "value", 1, TS_NS)}


async def test_values_influxdb_cannot_store_are_skipped(make_sink, server, db_name) -> None:
    sink = await make_sink("pod_id_index=false")
    values = {"a": MetricValue(math.nan), "b": MetricValue(math.inf), "c": MetricValue(np.int64(7)),  # type: ignore[arg-type]
              "d": MetricValue(np.float32(0.5)), "e": MetricValue(-3), "f": MetricValue(1e-7)}  # type: ignore[arg-type]
    await sink.export(DataBatch(TS, {"cluster": MetricSet({"type": "cluster"}, values)}))

    assert {p[0]: p[3] for p in server.points(db_name)} == {"c": 7, "d": 0.5, "e": -3, "f": 1e-7}
    assert server.field_types(db_name)[("c", "value")] == "integer"
    assert sink.schema.unwritable == 1  # the infinity; a NaN is "no value" in the columnar batch


async def test_event_strings_keep_quotes_backslashes_newlines_and_unicode(make_sink, server, db_name) -> None:
    sink = await make_sink("withfields=true", events=True)
    message = 'Back\\slash "quoted"\nsecond line ✓ <b>&'
    event = {"metadata": {"uid": "u1", "namespace": "ns"}, "involvedObject": {"kind": "Node", "name": "n"},
             "message": message, "lastTimestamp": "2025-01-02T03:04:05Z", "source": {"host": "h"}}
    await sink.export_events(EventBatch(TS, [event]))

    ((measurement, _, field, value, ts),) = server.points(db_name)
    assert (measurement, field, value, ts) == ("events", "message", message, TS_NS)


def test_format_value() -> None:
    assert [format_value(v) for v in (5, -5, 2.5, 1e20, True, "x", None)] == [
        "5i", "-5i", "2.5", "1e+20", None, None, None]


def test_line_parts_names_the_point_of_a_line() -> None:
    assert line_parts('log/events,a=b\\,c value="x y" 1') == ("log/events", "value", '"x y"')
    assert line_parts("m\\ x,t=1 f\\=g=1i 2") == ("m x", "f=g", "1i")


def test_cached_tag_text_follows_label_changes() -> None:
    schema = MetricSchema(with_fields=False, cluster_name="c", disable_counter_metrics=False, pod_id_index=False)

    def lines(labels: dict[str, str]) -> list[str]:
        metric_set = MetricSet(dict(labels), {"uptime": MetricValue(1)}, [LabeledMetric("fs", {"resource_id": "/"}, 2)])
        return list(schema.lines(DataBatch(TS, {"node:n": metric_set})))

    assert lines({"type": "node", "nodename": "n"}) == [
        f"uptime,cluster_name=c,nodename=n,type=node value=1i {TS_NS}",
        f"fs,cluster_name=c,nodename=n,resource_id=/,type=node value=2i {TS_NS}"]
    assert lines({"type": "node", "nodename": "n", "labels": "a:b"}) == [
        f"uptime,cluster_name=c,labels=a:b,nodename=n,type=node value=1i {TS_NS}",
        f"fs,cluster_name=c,labels=a:b,nodename=n,resource_id=/,type=node value=2i {TS_NS}"]
