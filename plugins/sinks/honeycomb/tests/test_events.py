"""What arrives at the Honeycomb batch API: Heapster's fields, the batch time, the write key, 100 per request."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from heapster.errors import PermanentError, RetryableError
from heapster.model import DataBatch, EventBatch, LabeledMetric, MetricSet, MetricType, MetricValue
from heapster.testing import synthetic_event
from heapster_sink_honeycomb.testing import HoneycombServer

T = datetime(2017, 3, 4, 5, 6, 0, tzinfo=UTC)
C = MetricType.CUMULATIVE


def mine(server: HoneycombServer, sink) -> list:
    return [e for e in server.events if e.dataset == sink.config.dataset]


async def test_a_metric_set_is_one_event_of_its_values_and_labels(make_sink, server: HoneycombServer) -> None:
    sink = await make_sink()
    labels = {"type": "pod", "namespace_name": "default", "pod_name": "web-1", "nodename": "node-1"}
    values = {"cpu/usage_rate": MetricValue(120), "memory/usage": MetricValue(2048), "cpu/usage": MetricValue(9, C),
              "network/rx": MetricValue(5, C), "network/rx_rate": MetricValue(2.5)}
    await sink.export(DataBatch(T, {"namespace:default/pod:web-1": MetricSet(
        labels=labels, values=values, labeled=[LabeledMetric("filesystem/usage", {"resource_id": "/"}, 1)])}))
    (event,) = mine(server, sink)
    assert event.data == {**labels, "cpu/usage_rate": 120, "memory/usage": 2048, "network/rx_rate": 2.5}
    assert event.time == "2017-03-04T05:06:00Z"
    assert event.headers["X-Honeycomb-Team"] == "test-writekey"
    assert event.headers["Content-Type"] == "application/json"


async def test_a_kubernetes_event_has_heapsters_fields_at_its_last_timestamp(make_sink,
                                                                              server: HoneycombServer) -> None:
    sink = await make_sink(events=True)
    event = synthetic_event(T, n=4, count=2)
    event["lastTimestamp"] = "2017-03-04T05:07:08Z"
    await sink.export_events(EventBatch(T, [event]))
    (got,) = mine(server, sink)
    assert got.data == {"namespace": "default", "kind": "Pod", "name": "pod-4", "subobject": "spec.containers{app}",
                        "source.component": "kubelet", "source.host": "node-0", "count": 2, "type": "Normal",
                        "reason": "Pulled", "message": "Container image pulled (4)"}
    assert got.time == "2017-03-04T05:07:08Z"


async def test_requests_carry_at_most_100_events(make_sink, server: HoneycombServer) -> None:
    sink = await make_sink()
    before = server.requests
    sets = {f"node:n{i}": MetricSet(labels={"type": "node", "nodename": f"n{i}"}, values={"m": MetricValue(i)})
            for i in range(250)}
    await sink.export(DataBatch(T, sets))
    assert server.requests - before == 3
    assert sorted(e.data["nodename"] for e in mine(server, sink)) == sorted(f"n{i}" for i in range(250))


async def test_the_dataset_goes_in_the_path_escaped(make_sink, server: HoneycombServer) -> None:
    sink = await make_sink()
    assert sink.config.batch_url == f"{server.url}/1/batch/{sink.config.dataset}"
    from heapster_sink_honeycomb.config import batch_url

    assert batch_url("https://api.honeycomb.io/", "k8s metrics") == "https://api.honeycomb.io/1/batch/k8s%20metrics"
    assert batch_url("http://proxy:8080/honeycomb", "x") == "http://proxy:8080/honeycomb/1/batch/x"


async def test_an_unknown_write_key_is_a_permanent_failure(make_sink) -> None:
    sink = await make_sink(writekey="wrong")
    batch = DataBatch(T, {"cluster": MetricSet(labels={"type": "cluster"}, values={"m": MetricValue(1)})})
    with pytest.raises(PermanentError, match=r"401.*unknown API key"):
        await sink.export(batch)
    assert "wrong" not in sink.config.masked_uri


async def test_an_unavailable_api_is_retryable(make_sink, server: HoneycombServer) -> None:
    sink = await make_sink()
    server.fail_with = 503
    batch = DataBatch(T, {"cluster": MetricSet(labels={"type": "cluster"}, values={"m": MetricValue(1)})})
    with pytest.raises(RetryableError, match="503"):
        await sink.export(batch)


async def test_nan_values_are_left_out_of_the_event(make_sink, server: HoneycombServer) -> None:
    sink = await make_sink()
    values = {"a": MetricValue(float("nan")), "b": MetricValue(1.0)}
    await sink.export(DataBatch(T, {"cluster": MetricSet(labels={"type": "cluster"}, values=values)}))
    (event,) = mine(server, sink)
    assert event.data == {"type": "cluster", "b": 1}


async def test_the_double_refuses_what_honeycomb_refuses(server: HoneycombServer) -> None:
    import aiohttp

    url = f"{server.url}/1/batch/x"
    headers = {"X-Honeycomb-Team": "test-writekey", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=b"{}", headers=headers) as resp:
            assert resp.status == 400
        async with session.post(url, data=b"[{", headers=headers) as resp:
            assert resp.status == 400
        items = [{"data": {"a": 1}}, {"time": "2017-01-01T00:00:00Z"}, {"data": {}, "time": "yesterday"}]
        async with session.post(url, data=json.dumps(items).encode(), headers=headers) as resp:
            assert resp.status == 200
            assert [r["status"] for r in await resp.json()] == [202, 400, 400]
