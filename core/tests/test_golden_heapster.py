"""Golden compatibility: Heapster v1.6.0-beta.1's answers, written from its source for a fixed store
(``tests/fixtures/heapster-golden``), compared field by field with ours over real HTTP.

Where Heapster's answer is deterministic (no Go map order, no intentional difference) the body must also be
byte-identical to what go-restful wrote. Every intentional difference is named in the golden files, has its
rule in ``heapster.testing.golden``, and is listed in the compatibility section of core/README.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from heapster.api import create_api_app, start_api_server
from heapster.interfaces import PluginContext
from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricType, MetricValue
from heapster.plugins import load_plugins
from heapster.scheduler import Scheduler, SchedulerSettings
from heapster.sinkqueue import SinkQueue
from heapster.store import MetricStore
from heapster.testing import FakeClock, StaticSource, StaticUnit
from heapster.testing.cluster import StaticCluster
from heapster.testing.golden import DIFFERENCES, canonical, check_answer, exchanges, load
from heapster.timefmt import parse_rfc3339

README = Path(__file__).resolve().parents[1] / "README.md"
ROUTE_FAMILIES = ("model", "export", "metrics-v1alpha1", "healthz")
ALL = [pair for family in ROUTE_FAMILIES for pair in exchanges(family)]


def seconds(text: str) -> float:
    return parse_rfc3339(text).timestamp()


def build_store(spec: dict[str, Any]) -> MetricStore:
    """input.json's batches in a metric store."""
    start = parse_rfc3339(spec["collection_start"])
    cumulative = set(spec["cumulative"])

    def kind(name: str) -> MetricType:
        return MetricType.CUMULATIVE if name in cumulative else MetricType.GAUGE

    store = MetricStore()
    for batch in spec["batches"]:
        stamp = parse_rfc3339(batch["timestamp"])
        sets = {
            key: MetricSet(
                dict(ms["labels"]),
                {name: MetricValue(value, kind(name)) for name, value in ms["values"].items()},
                [LabeledMetric(lm["name"], dict(lm["labels"]), lm["value"], kind(lm["name"]))
                 for lm in ms.get("labeled", [])],
                collection_start=start, scrape_time=stamp)
            for key, ms in batch["metric_sets"].items()
        }
        store.ingest(DataBatch(stamp, sets))
    return store


@pytest.fixture(scope="module")
def golden_input() -> dict[str, Any]:
    return load("input.json")


@pytest.fixture
async def serve(golden_input: dict[str, Any]) -> AsyncIterator[Callable[..., Any]]:
    """``await serve(settings, now)`` -> base URL of our API over the golden store (one server per variant)."""
    store = build_store(golden_input)
    cluster = StaticCluster(golden_input["nodes"], golden_input["pods"])
    runners: dict[str, tuple[web.AppRunner, str]] = {}

    async def url_for(settings: dict[str, Any], now: str) -> str:
        variant = canonical([settings, now])
        if variant not in runners:
            app = create_api_app(store, cluster, {"metric_resolution": 60.0, **settings},
                                 clock=FakeClock(seconds(now)))
            runner = await start_api_server(app, {"listen_ip": "127.0.0.1", "heapster_port": 0})
            host, port = runner.addresses[0][:2]
            runners[variant] = (runner, f"http://{host}:{port}")
        return runners[variant][1]

    yield url_for
    for runner, _ in runners.values():
        await runner.cleanup()


@pytest.mark.parametrize(("name", "exchange"), ALL, ids=[name for name, _ in ALL])
async def test_answer_matches_heapster(serve: Callable[..., Any], golden_input: dict[str, Any], name: str,
                                       exchange: dict[str, Any]) -> None:
    base = await serve(exchange.get("settings", {}), exchange.get("now", golden_input["now"]))
    async with aiohttp.ClientSession() as session, session.get(base + exchange["get"]) as response:
        problems = check_answer(exchange, response.status, response.content_type, await response.read())
    assert not problems, "\n".join(problems)


def test_the_check_catches_what_a_heapster_client_would_notice() -> None:
    exchange = {"get": "/x", "status": 200, "json": {"metrics": [{"timestamp": "T", "value": 1}],
                                                     "latestTimestamp": "T"}}
    good = b'{\n  "metrics": [\n   {\n    "timestamp": "T",\n    "value": 1\n   }\n  ],\n  "latestTimestamp": "T"\n }'
    assert check_answer(exchange, 200, "application/json", good) == []
    assert check_answer(exchange, 404, "text/plain", b"no metrics")           # status
    assert check_answer(exchange, 200, "application/json", good.replace(b"1", b"1.0"))   # int became float
    assert check_answer(exchange, 200, "application/json", good.replace(b'"T"\n }', b'"U"\n }'))  # value
    assert check_answer(exchange, 200, "application/json", b'{"metrics":[{"timestamp":"T","value":1}],'
                                                            b'"latestTimestamp":"T"}')       # not go-restful's bytes
    floats = {**exchange, "difference": "floats-kept"}
    assert check_answer(floats, 200, "application/json", good.replace(b"1", b"1.9")) == []
    assert check_answer(floats, 200, "application/json", good.replace(b"1", b"2.5"))
    assert check_answer({**exchange, "json": [], "difference": "made-up"}, 200, "application/json", b"[]")


def test_every_route_family_has_golden_answers() -> None:
    paths = [exchange["get"] for _, exchange in ALL]
    for prefix in ("/api/v1/model/metrics", "/api/v1/model/nodes", "/api/v1/model/namespaces",
                   "/api/v1/model/debug/allkeys", "/api/v1/metric-export", "/api/v1/metric-export-schema",
                   "/apis/metrics.k8s.io/v1alpha1/nodes", "/apis/metrics.k8s.io/v1alpha1/pods",
                   "/apis/metrics.k8s.io/v1alpha1/namespaces", "/healthz"):
        assert any(path.startswith(prefix) for path in paths), prefix
    assert any("/pod-list/" in path for path in paths) and any("/freecontainers/" in path for path in paths)


def test_readme_lists_every_intentional_difference() -> None:
    section = README.read_text().split("## Compatibility with Heapster", 1)[1]
    for name in DIFFERENCES:
        assert f"`{name}`" in section, f"core/README.md does not explain {name}"


# --- /metrics --------------------------------------------------------------------------------------


async def test_self_metrics_match_heapster(golden_input: dict[str, Any]) -> None:
    """After one scrape of a kubelet unit, the processors, an export and a Model API call, every
    Heapster self-metric recorded by core has Heapster's type, help, label names and quantiles."""
    golden = load("selfmetrics.json")
    cluster = StaticCluster(golden_input["nodes"], golden_input["pods"])
    store = MetricStore()
    clock = FakeClock(seconds(golden_input["now"]))
    first = golden_input["batches"][-1]["metric_sets"]["node:node-a"]
    unit = StaticUnit("kubelet_summary:10.0.0.1:10250", {"node:node-a": MetricSet(
        dict(first["labels"]), {"memory/usage": MetricValue(first["values"]["memory/usage"])})}, clock=clock)
    chain = load_plugins().build_processors(PluginContext(settings={}, cluster=cluster))
    queue = SinkQueue(store.name, store.export, clock=clock)
    scheduler = Scheduler(StaticSource([unit]), chain, [queue], SchedulerSettings(resolution=60.0, max_jitter=0.0),
                          clock=clock)
    await scheduler.housekeep(clock.now() - 60, clock.now())
    await queue.drained()
    await queue.close()
    assert store.latest_timestamp is not None
    app = create_api_app(store, cluster, {}, clock=clock)
    runner = await start_api_server(app, {"listen_ip": "127.0.0.1", "heapster_port": 0})
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://{host}:{port}/api/v1/model/nodes/node-a/metrics/memory/usage") as r:
                assert r.status == 200
            async with session.get(f"http://{host}:{port}/metrics") as r:
                text = await r.text()
    finally:
        await runner.cleanup()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    quantiles = set(golden["quantiles"])
    for spec in golden["heapster"]:
        name = spec["name"].removesuffix("_total") if spec["type"] == "counter" else spec["name"]
        family = families.get(name)
        assert family is not None, f"{spec['name']} missing"
        assert (family.type, family.documentation) == (spec["type"], spec["help"]), spec["name"]
        if spec["recorded_by"] == "metrics/sources/summary/summary.go":
            continue  # recorded by the kubernetes source plugin, checked in its tests
        assert family.samples, f"{spec['name']} recorded nothing"
        for sample in family.samples:
            assert sorted(set(sample.labels) - {"quantile"}) == spec["labels"], sample
        if spec["type"] == "summary":
            assert {s.labels["quantile"] for s in family.samples if s.name == spec["name"]} == quantiles
            assert {s.name for s in family.samples} == {spec["name"], spec["name"] + "_sum", spec["name"] + "_count"}
    # The registry is the process's: other tests in this session may have added series of their own.
    scraped = {s.labels["source"] for s in families["heapster_scraper_duration_milliseconds"].samples}
    assert "kubelet_summary:10.0.0.1:10250" in scraped
    assert "static" not in scraped  # the source's name is not a series: Heapster timed kubelets only
    processors = {s.labels["processor"] for s in families["heapster_processor_duration_milliseconds"].samples}
    assert "rate calculator" in processors
    exporters = {s.labels["exporter"] for s in families["heapster_exporter_duration_milliseconds"].samples}
    assert "Metric Sink" in exporters
    assert not any(name.endswith("_created") for family in families.values() for name in
                   {s.name for s in family.samples})
