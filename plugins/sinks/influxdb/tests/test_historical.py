"""The historical API mounted in an aiohttp app, answering from points the sink wrote to a real influxd:
directly (1.x), or through the InfluxDB 2/3 double whose v1-compatible ``/query`` is answered by it."""

from __future__ import annotations

import math
import statistics
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricValue
from heapster.testing.golden import check_answer, exchanges
from heapster_sink_influxdb.testing import InfluxServer
from heapster_sink_influxdb.writeapi_double import InfluxWriteDouble

T0 = datetime(2025, 6, 1, 10, 0, 0, tzinfo=UTC)
STEP = timedelta(seconds=10)
BATCHES = 18  # three one-minute buckets of six points
START, END = "2025-06-01T10:00:00Z", "2025-06-01T10:02:50Z"
BASE = "/api/v1/historical"
POD_UID = "0b6f9a1c-uid-web-1"


def container_value(i: int) -> int:
    return (i * 37) % 101


def pod_value(i: int) -> float:
    return round(0.5 + (i * 13) % 7 / 4, 2)


def batch(i: int) -> DataBatch:
    node = {"nodename": "n1", "hostname": "n1", "host_id": "h1"}
    pod = {**node, "namespace_name": "default", "pod_name": "web-1", "pod_id": POD_UID, "namespace_id": "nsid"}
    return DataBatch(T0 + i * STEP, {
        "cluster": MetricSet({"type": "cluster"}, {"cpu/usage_rate": MetricValue(1000 + i)}),
        "namespace:default": MetricSet({"type": "ns", "namespace_name": "default"},
                                       {"cpu/usage_rate": MetricValue(500 + i)}),
        "node:n1": MetricSet({**node, "type": "node"}, {"cpu/usage_rate": MetricValue(700 + i),
                                                        "memory/usage": MetricValue(2**30)},
                             [LabeledMetric("filesystem/usage", {"resource_id": "/"}, 100 + i),
                              LabeledMetric("filesystem/usage", {"resource_id": "logs"}, 900 + i)]),
        "node:n1/container:kubelet": MetricSet({**node, "type": "sys_container", "container_name": "kubelet"},
                                               {"cpu/usage_rate": MetricValue(50 + i)}),
        "namespace:default/pod:web-1": MetricSet({**pod, "type": "pod"},
                                                 {"cpu/usage_rate": MetricValue(container_value(i) + 1),
                                                  "network/rx_rate": MetricValue(pod_value(i))}),
        "namespace:default/pod:web-1/container:nginx": MetricSet(
            {**pod, "type": "pod_container", "container_name": "nginx"},
            {"cpu/usage_rate": MetricValue(container_value(i)), "memory/usage": MetricValue(1000 * i)}),
    })


TOKEN = "hist-t0ken"


@pytest.fixture
def compat_double(request, server: InfluxServer) -> Iterator[InfluxWriteDouble | None]:
    """For v2/v3: the InfluxDB 2/3 double answering ``/query`` from the session's influxd."""
    flavor = request.param
    if flavor == "v1":
        yield None
        return
    with InfluxWriteDouble(org="acme", bucket="k8s", token=TOKEN, query_backend=server, flavor=flavor) as double:
        yield double


def api_options(double: InfluxWriteDouble | None) -> str:
    if double is None:
        return ""
    if double.flavor == "v2":
        return f"&org=acme&bucket=k8s&token={TOKEN}"
    return f"&api=v3&bucket=k8s&token={TOKEN}"


@pytest.fixture(params=["false", "true"], ids=["default", "withfields"])
async def api(request, make_sink, compat_double: InfluxWriteDouble | None) -> AsyncIterator[TestClient]:
    hostport = compat_double.hostport if compat_double else None
    sink = await make_sink(f"withfields={request.param}{api_options(compat_double)}", hostport=hostport)
    for i in range(BATCHES):
        await sink.export(batch(i))
    root = web.Application()
    root.add_subapp(BASE, sink.historical_app())
    async with TestClient(TestServer(root)) as client:
        yield client


async def get(client: TestClient, path: str, status: int = 200) -> object:
    resp = await client.get(BASE + path)
    assert resp.status == status, await resp.text()
    return await resp.json() if status == 200 else await resp.text()


def nearest_rank(values: list[float], percent: int) -> float:
    """InfluxQL PERCENTILE: the value at rank floor(n * p / 100 + 0.5) of the sorted values."""
    ordered = sorted(values)
    return ordered[math.floor(len(ordered) * percent / 100 + 0.5) - 1]


async def test_bucketed_percentiles_match_values_computed_by_hand(api: TestClient) -> None:
    aggregations = "95-perc,50-perc,99-perc,average,max,min,median,count"
    result = await get(api, f"/namespaces/default/pods/web-1/containers/nginx/metrics-aggregated/"
                            f"{aggregations}/cpu/usage_rate?start={START}&end={END}&bucket=1m")

    assert result["bucketSize"] == 60 * 10**9
    expected = []
    for minute in range(3):
        values = [container_value(i) for i in range(minute * 6, minute * 6 + 6)]
        expected.append({
            "timestamp": f"2025-06-01T10:0{minute}:00Z",
            "count": 6,
            "average": {"floatValue": statistics.fmean(values)},
            "maximum": {"intValue": max(values)},
            "minimum": {"intValue": min(values)},
            "median": {"floatValue": float(statistics.median(values))},
            "percentiles": {p: {"intValue": nearest_rank(values, int(p))} for p in ("50", "95", "99")},
        })
    assert result["buckets"] == expected


async def test_float_percentiles_without_bucket_cover_the_whole_range(api: TestClient) -> None:
    result = await get(api, f"/namespaces/default/pods/web-1/metrics-aggregated/95-perc,max/network/rx_rate"
                            f"?start={START}&end={END}")
    values = [pod_value(i) for i in range(BATCHES)]
    assert result == {"buckets": [{"timestamp": START, "maximum": {"floatValue": max(values)},
                                   "percentiles": {"95": {"floatValue": nearest_rank(values, 95)}}}],
                      "bucketSize": 0}


async def test_raw_metric_returns_every_point_in_range(api: TestClient) -> None:
    result = await get(api, "/namespaces/default/pods/web-1/containers/nginx/metrics/cpu/usage_rate"
                            "?start=2025-06-01T10:00:10Z&end=2025-06-01T10:00:40Z")
    assert result == {
        "metrics": [{"timestamp": f"2025-06-01T10:00:{s}0Z", "value": container_value(s)} for s in range(1, 5)],
        "latestTimestamp": "2025-06-01T10:00:40Z",
    }


@pytest.mark.parametrize(("path", "first"), [
    ("/metrics/cpu/usage_rate", 1000),
    ("/nodes/n1/metrics/cpu/usage_rate", 700),
    ("/namespaces/default/metrics/cpu-usage", 500),  # deprecated alias of cpu/usage_rate
    ("/nodes/n1/freecontainers/kubelet/metrics/cpu/usage_rate", 50),
    ("/namespaces/default/pods/web-1/metrics/cpu/usage_rate", 1),
    ("/nodes/n1/metrics/filesystem/usage?labels=resource_id:logs", 900),
])
async def test_every_object_type_is_queried(api: TestClient, path: str, first: int) -> None:
    sep = "&" if "?" in path else "?"
    result = await get(api, f"{path}{sep}start={START}")
    assert len(result["metrics"]) == BATCHES
    assert result["metrics"][0] == {"timestamp": START, "value": first}
    assert result["latestTimestamp"] == END


async def test_pod_id_routes_answer_like_the_name_routes(api: TestClient) -> None:
    query = f"?start={START}&end={END}&bucket=1m"
    by_name = await get(api, f"/namespaces/default/pods/web-1/metrics/cpu/usage_rate{query}")
    assert await get(api, f"/pod-id/{POD_UID}/metrics/cpu/usage_rate{query}") == by_name
    by_name = await get(api, f"/namespaces/default/pods/web-1/containers/nginx/metrics-aggregated/max/memory/usage"
                             f"{query}")
    assert by_name["buckets"][2]["maximum"] == {"intValue": 17000}
    assert await get(api, f"/pod-id/{POD_UID}/containers/nginx/metrics-aggregated/max/memory/usage{query}") \
        == by_name
    listed = await get(api, f"/pod-id-list/{POD_UID},unknown-uid/metrics/cpu/usage_rate{query}")
    raw = await get(api, f"/namespaces/default/pods/web-1/metrics/cpu/usage_rate{query}")
    assert listed == {"items": [raw, {"metrics": [], "latestTimestamp": "0001-01-01T00:00:00Z"}]}


async def test_pod_list_routes(api: TestClient) -> None:
    query = f"?start={START}&end={END}"
    path = "/namespaces/default/pod-list/web-1,missing/metrics-aggregated/count/cpu/usage_rate"
    result = await get(api, path + query)
    assert result == {"items": [{"buckets": [{"timestamp": START, "count": BATCHES}], "bucketSize": 0},
                                {"buckets": [], "bucketSize": 0}]}


async def test_object_lists(api: TestClient) -> None:
    assert await get(api, "/nodes/") == ["n1"]
    assert await get(api, "/namespaces") == ["default"]
    assert await get(api, "/namespaces/default/pods/") == ["web-1"]
    assert await get(api, "/namespaces/default/pods/web-1/containers") == ["nginx"]
    assert await get(api, "/nodes/n1/freecontainers/") == ["kubelet"]


async def test_metric_names_per_object(api: TestClient) -> None:
    assert await get(api, "/metrics/") == ["cpu/usage_rate"]
    assert await get(api, "/nodes/n1/metrics") == ["cpu/usage_rate", "filesystem/usage", "memory/usage"]
    assert await get(api, "/namespaces/default/pods/web-1/metrics/") == ["cpu/usage_rate", "network/rx_rate"]
    assert await get(api, "/namespaces/default/pods/web-1/containers/nginx/metrics") == [
        "cpu/usage_rate", "memory/usage"]


@pytest.mark.parametrize(("path", "message"), [
    ("/metrics/cpu/usage_rate", "no start time (or a start time of zero) provided"),
    ("/metrics/cpu/usage_rate?start=yesterday", "timestamp argument cannot be parsed"),
    ("/metrics/cpu/usage_rate?start=2026-03-01", "timestamp argument cannot be parsed"),  # as Go's RFC3339 parse
    ("/metrics/cpu/usage_rate?start=2026-03-01t10:00:00Z", "timestamp argument cannot be parsed"),
    ("/metrics/cpu/usage_rate?start=2026-03-01 10:00:00Z", "timestamp argument cannot be parsed"),
    (f"/metrics-aggregated/p42/cpu/usage_rate?start={START}", 'Unknown aggregation "p42"'),
    (f"/metrics-aggregated/max/cpu/usage_rate?start={START}&bucket=5y",
     'unable to parse bucket size: "5y" has no known duration suffix'),
    (f"/metrics-aggregated/max/cpu/usage_rate?start={START}&bucket=5",
     'unable to parse bucket size: "5" is too short to be a duration'),
    (f"/metrics-aggregated/max/cpu/usage_rate?start={START}&bucket=-5m",
     'strconv.ParseUint: parsing "-5": invalid syntax'),
    (f"/metrics-aggregated/max/cpu/usage_rate?start={START}&bucket=ms",
     'strconv.ParseUint: parsing "m": invalid syntax'),  # Heapster read "ms" as "m" seconds
    (f"/metrics-aggregated/max/cpu/usage_rate?start={START}&bucket=99999999999999999999s",
     'strconv.ParseUint: parsing "99999999999999999999": value out of range'),
    (f"/nodes/n1/metrics/filesystem/usage?start={START}&labels=resource_id", 'invalid label pair "resource_id"'),
    (f"/nodes/n1/metrics/filesystem/usage?start={START}&labels=%C3%A9%0A", 'invalid label pair "\u00e9\\n"'),
    (f"/nodes/n1'%20OR%20'1'='1/metrics/cpu/usage_rate?start={START}", "Invalid node name"),
])
async def test_bad_requests_get_400(api: TestClient, path: str, message: str) -> None:
    assert message in await get(api, path, status=400)


@pytest.mark.parametrize(("name", "exchange"), exchanges("historical"), ids=[n for n, _ in exchanges("historical")])
async def test_answer_matches_heapster(api: TestClient, name: str, exchange: dict) -> None:
    """Golden: Heapster's historical answers for these batches (tests/fixtures/heapster-golden/historical.json),
    field by field, and byte for byte where Heapster's answer was deterministic."""
    resp = await api.get(exchange["get"])
    problems = check_answer(exchange, resp.status, resp.content_type, await resp.read())
    assert not problems, "\n".join(problems)


async def test_the_sink_is_found_as_a_historical_source_through_its_registration() -> None:
    from heapster.app import build_daemon
    from heapster.interfaces import HistoricalSource
    from heapster.plugins import load_plugins

    plugins = load_plugins()
    assert "influxdb" in plugins.historical_keys()
    spec = "influxdb:http://127.0.0.1:1?db=k8s"
    daemon = await build_daemon({"source": ["static:"], "sink": [spec], "historical_source": spec,
                                 "disable_metric_sink": True}, plugins=plugins)
    try:
        assert isinstance(daemon.historical, HistoricalSource)
        assert daemon.historical is daemon.sinks[0]
    finally:
        for queue in daemon.queues:
            await queue.close(0)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "compat_double" in metafunc.fixturenames:
        metafunc.parametrize("compat_double", ["v1", "v2", "v3"], indirect=True)
