"""InfluxDB 2 (/api/v2/write) and InfluxDB 3 (/api/v3/write_lp): options, the 1.x schema unchanged,
auth, partial writes, failures, and the core sink contracts, against the strict write-API double."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from heapster.errors import PermanentError, RetryableError, UsageError
from heapster.interfaces import PluginContext
from heapster.model import DataBatch, EventBatch, MetricSet, MetricValue
from heapster.plugins import METRIC_SINK, load_plugins
from heapster.testing import EventSinkContract, ServerOutage, SinkContract, synthetic_batch, synthetic_event
from heapster.testing.contract import dropped_so_far
from heapster_sink_influxdb.config import InfluxConfig, build_config
from heapster_sink_influxdb.linereader import parse_line
from heapster_sink_influxdb.sink import InfluxdbEventSink, InfluxdbMetricSink
from heapster_sink_influxdb.testing import InfluxServer
from heapster_sink_influxdb.writeapi_double import InfluxWriteDouble

TOKEN = "s3cr3t-token"
STAMP = datetime(2026, 5, 4, 3, 2, 1, 250000, tzinfo=UTC)


@pytest.fixture
def double() -> Iterator[InfluxWriteDouble]:
    with InfluxWriteDouble(org="acme", bucket="k8s", token=TOKEN) as server:
        yield server


def _configure(spec: str) -> InfluxConfig:
    _, config = load_plugins().configure(METRIC_SINK, spec)
    return build_config(config)


def _v2(double: InfluxWriteDouble, extra: str = "") -> str:
    return f"influxdb:http://{double.hostport}?org=acme&bucket=k8s&token={TOKEN}{extra}"


def _v3(double: InfluxWriteDouble, extra: str = "") -> str:
    return f"influxdb:http://{double.hostport}?api=v3&bucket=heapster&token={TOKEN}{extra}"


def _build(spec: str, events: bool = False) -> InfluxdbMetricSink | InfluxdbEventSink:
    plugins = load_plugins()
    if events:
        return plugins.build_event_sink(spec, PluginContext())  # type: ignore[return-value]
    return plugins.build_metric_sink(spec, PluginContext())  # type: ignore[return-value]


Stored = set[tuple[str, frozenset[tuple[str, str]], str, object, int]]


def _expected(sink: InfluxdbMetricSink, batch: DataBatch) -> Stored:
    out = set()
    for line in sink.schema.lines(batch):
        measurement, tags, fields, stamp = parse_line(line)
        for field, value in fields.items():
            out.add((measurement, frozenset(tags.items()), field, value, stamp or 0))
    return out


def test_options() -> None:
    assert _configure("influxdb:http://h:8086").api == "v1"
    v2 = _configure(f"influxdb:http://h:8086?org=acme&bucket=k8s&token={TOKEN}")
    assert (v2.api, v2.org, v2.bucket, v2.token) == ("v2", "acme", "k8s", TOKEN)
    assert TOKEN not in v2.masked_uri and v2.redact(f"token {TOKEN}") == "token xxxxx"
    v3 = _configure("influxdb:http://h:8181?api=v3&db=metrics&token=x")
    assert (v3.api, v3.bucket) == ("v3", "metrics")
    assert _configure("influxdb:http://h:8181?api=V3&bucket=b").bucket == "b"
    for spec, word in [("influxdb:http://h?api=v4", "api"), ("influxdb:http://h?bucket=b", "org"),
                       ("influxdb:http://h?api=v2&org=o", "bucket")]:
        with pytest.raises(UsageError, match=word):
            _configure(spec)


@pytest.mark.parametrize("api", ["v2", "v3"])
async def test_metrics_land_with_the_1x_schema(double: InfluxWriteDouble, api: str) -> None:
    options = "&cluster_name=prod&batch_size=7"
    spec = _v2(double, options) if api == "v2" else _v3(double, options)
    sink = _build(spec)
    assert isinstance(sink, InfluxdbMetricSink)
    await sink.start()  # no database management on v2/v3
    batch = synthetic_batch(STAMP, nodes=2, pods=2, containers=1, seq=2)
    await sink.export(batch)
    await sink.close()
    bucket = "k8s" if api == "v2" else "heapster"
    stored = {(m, tags, f, v, t) for _, m, tags, f, v, t in double.stored(bucket)}
    assert stored == _expected(sink, batch)
    assert ("cpu/usage", frozenset({("cluster_name", "prod"), ("container_name", "c0"), ("nodename", "node-1"),
            ("namespace_name", "default"), ("pod_name", "pod-1-0"), ("type", "pod_container"),
            ("container_base_image", "image-0:v1")}), "value",
            batch.metric_sets["namespace:default/pod:pod-1-0/container:c0"].values["cpu/usage"].value,
            1777863721250000000) in stored
    request = double.requests[-1]
    if api == "v2":
        assert request["path"] == "/api/v2/write"
        assert request["query"] == {"org": "acme", "bucket": "k8s", "precision": "ns"}
        assert request["headers"]["Authorization"] == f"Token {TOKEN}"
    else:
        assert request["path"] == "/api/v3/write_lp"
        assert request["query"] == {"db": "heapster", "precision": "nanosecond"}
        assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert request["headers"]["Content-Encoding"] == "gzip"
    assert len(double.requests) > 1  # batch_size=7 split the batch


async def test_events_through_v3(double: InfluxWriteDouble) -> None:
    sink = _build(_v3(double), events=True)
    assert isinstance(sink, InfluxdbEventSink)
    await sink.export_events(EventBatch(STAMP, [synthetic_event(STAMP, n=1), synthetic_event(STAMP, n=2)]))
    await sink.close()
    stored = double.stored("heapster")
    assert len(stored) == 2 and {p[1] for p in stored} == {"log/events"}


def _conflict_batch(stamp: datetime) -> DataBatch:
    labels = {"type": "node"}
    return DataBatch(stamp, {
        "node:a": MetricSet(labels={**labels, "nodename": "a"}, values={"custom/bad": MetricValue(1)}),
        "node:b": MetricSet(labels={**labels, "nodename": "b"}, values={"custom/bad": MetricValue(1.5)}),
        "node:c": MetricSet(labels={**labels, "nodename": "c"}, values={"memory/usage": MetricValue(7)}),
    })


@pytest.mark.parametrize("api", ["v2", "v3"])
async def test_a_field_type_conflict_drops_only_that_point_and_counts_it(double: InfluxWriteDouble, api: str) -> None:
    sink = _build(_v2(double) if api == "v2" else _v3(double))
    before = dropped_so_far(sink.name)
    await sink.export(_conflict_batch(STAMP))
    assert dropped_so_far(sink.name) == before + 1
    assert len(double.stored()) == 2
    await sink.close()


async def test_bad_token_is_permanent_and_kept_out_of_the_error(double: InfluxWriteDouble) -> None:
    for spec in (f"influxdb:http://{double.hostport}?org=acme&bucket=k8s&token=wrong-token-x",
                 f"influxdb:http://{double.hostport}?api=v3&token=wrong-token-x"):
        sink = _build(spec)
        assert isinstance(sink, InfluxdbMetricSink)
        with pytest.raises(PermanentError) as info:
            await sink.export(synthetic_batch(STAMP, nodes=1, pods=0, containers=0))
        assert "401" in str(info.value) and "wrong-token-x" not in str(info.value)
        await sink.close()
    sink = _build(f"influxdb:http://{double.hostport}?org=acme&bucket=nope&token={TOKEN}")
    with pytest.raises(PermanentError, match="bucket"):
        await sink.export(synthetic_batch(STAMP, nodes=1, pods=0, containers=0))  # type: ignore[union-attr]
    await sink.close()


async def test_5xx_and_an_outage_are_retryable(double: InfluxWriteDouble) -> None:
    sink = _build(_v2(double))
    assert isinstance(sink, InfluxdbMetricSink)
    double.fail_next(503)
    with pytest.raises(RetryableError, match="503"):
        await sink.export(synthetic_batch(STAMP, nodes=1, pods=0, containers=0))
    double.stop()
    with pytest.raises(RetryableError, match="unreachable"):
        await sink.export(synthetic_batch(STAMP, nodes=1, pods=0, containers=0))
    double.start()
    await sink.export(synthetic_batch(STAMP, nodes=1, pods=0, containers=0))
    assert double.stored()
    await sink.close()


class TestInfluxdb2Contract(SinkContract):
    @pytest.fixture(autouse=True)
    def _double(self, double: InfluxWriteDouble) -> None:
        self.double = double

    @pytest.fixture
    def contract_sink(self, double: InfluxWriteDouble) -> InfluxdbMetricSink:
        return _build(_v2(double, "&batch_size=5"))  # type: ignore[return-value]

    @pytest.fixture
    def contract_outage(self, double: InfluxWriteDouble) -> ServerOutage:
        return ServerOutage(double)

    @pytest.fixture
    def contract_bad_batch(self) -> DataBatch:
        return _conflict_batch(datetime.now(UTC) - timedelta(hours=2))

    async def contains(self, sink: InfluxdbMetricSink, batch: DataBatch) -> bool:  # type: ignore[override]
        stored = {(m, tags, f, v, t) for _, m, tags, f, v, t in self.double.stored("k8s")}
        return _expected(sink, batch) <= stored


class TestInfluxdb3EventContract(EventSinkContract):
    @pytest.fixture(autouse=True)
    def _double(self, double: InfluxWriteDouble) -> None:
        self.double = double

    @pytest.fixture
    def contract_event_sink(self, double: InfluxWriteDouble) -> InfluxdbEventSink:
        return _build(_v3(double), events=True)  # type: ignore[return-value]

    @pytest.fixture
    def contract_outage(self, double: InfluxWriteDouble) -> ServerOutage:
        return ServerOutage(double)

    async def contains_events(self, sink: InfluxdbEventSink, batch: EventBatch) -> bool:  # type: ignore[override]
        stored = [p for p in self.double.stored("heapster") if p[5] == int(batch.timestamp.timestamp()) * 10**9]
        return len(stored) >= len(batch.events)


def test_the_line_reader_is_strict() -> None:
    assert parse_line('m\\ x,t=a\\,b f=1i,g="q\\"",h=T 5') == ("m x", {"t": "a,b"}, {"f": 1, "g": 'q"', "h": True}, 5)
    for bad in ["m", "m f=", "m f=1x", 'm f="open', "m f=1 5x", " f=1", "m f=1,f=2", "m,t= f=1",
                "m f=99999999999999999999i"]:
        with pytest.raises(ValueError):
            parse_line(bad)


# --- the historical API over the v1-compatible /query endpoint ---------------------------------------
@pytest.fixture(params=["v2", "v3"])
def query_double(request: pytest.FixtureRequest, server: InfluxServer) -> Iterator[InfluxWriteDouble]:
    with InfluxWriteDouble(org="acme", bucket="k8s", token=TOKEN, query_backend=server,
                           flavor=request.param) as double:
        yield double


def _spec(double: InfluxWriteDouble, bucket: str = "k8s", token: str = TOKEN) -> str:
    api = "" if double.flavor == "v2" else "&api=v3"
    return f"influxdb:http://{double.hostport}?org=acme&bucket={bucket}&token={token}{api}"


async def _historical(sink: InfluxdbMetricSink, path: str) -> tuple[int, str]:
    root = web.Application()
    root.add_subapp("/api/v1/historical", sink.historical_app())
    async with TestClient(TestServer(root)) as client:
        resp = await client.get("/api/v1/historical" + path)
        return resp.status, await resp.text()


async def test_historical_queries_use_the_token_and_the_bucket(query_double: InfluxWriteDouble) -> None:
    sink = _build(_spec(query_double))
    assert isinstance(sink, InfluxdbMetricSink)
    await sink.export(synthetic_batch(STAMP, nodes=2, pods=1, containers=1))
    status, text = await _historical(sink, "/nodes")
    assert (status, json.loads(text)) == (200, ["node-0", "node-1"])
    start = STAMP.isoformat().replace("+00:00", "Z")
    status, text = await _historical(sink, f"/pod-id-list/uid-0-0,unknown/metrics/network/rx?start={start}")
    assert status == 200, text
    items = json.loads(text)["items"]
    assert len(items[0]["metrics"]) == 1 and items[1]["metrics"] == []
    await sink.close()
    queries = [r for r in query_double.requests if r["path"] == "/query"]
    assert queries and all(r["headers"]["Authorization"] == f"Token {TOKEN}" for r in queries)
    assert {r["query"]["db"] for r in queries} == {"k8s"} and {r["query"]["epoch"] for r in queries} == {"ns"}
    if query_double.flavor == "v3":  # one statement per request
        assert all(";" not in r["query"]["q"] for r in queries)
    else:  # the pod-id lookups and the per-pod selects share requests
        assert any(";" in r["query"]["q"] for r in queries)


async def test_historical_bad_token_and_unknown_bucket_are_errors(query_double: InfluxWriteDouble) -> None:
    sink = _build(_spec(query_double, token="wrong-token-y"))
    status, text = await _historical(sink, "/nodes")  # type: ignore[arg-type]
    assert status == 500 and "401" in text and "wrong-token-y" not in text
    await sink.close()
    sink = _build(_spec(query_double, bucket="nope"))
    status, text = await _historical(sink, "/nodes")  # type: ignore[arg-type]
    assert status == 500 and "database not found: nope" in text
    if query_double.flavor == "v3":
        assert "404" in text
    await sink.close()


async def test_the_query_double_rejects_what_the_servers_reject(query_double: InfluxWriteDouble) -> None:
    v3 = query_double.flavor == "v3"
    async with aiohttp.ClientSession() as session:
        url = f"{query_double.url}/query"
        async with session.get(url, params={"db": "k8s", "q": "SHOW MEASUREMENTS"}) as resp:
            assert resp.status == 401
            assert await resp.json() == ({"error": "unauthorized access"} if v3 else
                                         {"code": "unauthorized", "message": "unauthorized access"})
        auth = {"Authorization": f"Token {TOKEN}"}
        async with session.get(url, params={"db": "k8s", "q": "SHOW MEASUREMENTS; SHOW MEASUREMENTS"},
                               headers=auth) as resp:
            if v3:
                assert resp.status == 400 and "only one" in (await resp.json())["error"]
            else:
                assert resp.status == 200 and len((await resp.json())["results"]) == 2
        async with session.get(url, params={"db": "other", "q": "SELECT * FROM m"}, headers=auth) as resp:
            body = await resp.json()
            if v3:
                assert (resp.status, body) == (404, {"error": "database not found: other"})
            else:
                assert resp.status == 200 and body["results"][0]["error"] == "retention policy not found: "
        basic = {"Authorization": aiohttp.encode_basic_auth("anyone", TOKEN)}
        async with session.get(url, params={"db": "k8s", "q": "SHOW MEASUREMENTS"}, headers=basic) as resp:
            assert resp.status == (200 if v3 else 401)  # InfluxDB 2: Basic needs a v1 user, not a token
