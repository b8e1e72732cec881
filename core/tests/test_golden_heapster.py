"""Golden compatibility: Heapster v1.6.0-beta.1's answers, written from its source for a fixed store
(``tests/fixtures/heapster-golden``), compared field by field with ours over real HTTP.

Where Heapster's answer is deterministic (no Go map order, no intentional difference) the body must also be
byte-identical to what go-restful wrote. Every intentional difference is named in the golden files, has its
rule here, and is listed in the compatibility section of core/README.md.
"""

from __future__ import annotations

import json
import math
import re
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
from heapster.testing.fixtures import FIXTURES
from heapster.timefmt import parse_rfc3339

GOLDEN = FIXTURES / "heapster-golden"
README = Path(__file__).resolve().parents[1] / "README.md"
ROUTE_FAMILIES = ("model", "export", "metrics-v1alpha1", "healthz")

DIFFERENCES: dict[str, str] = {
    "floats-kept": "Model API values keep their type; Heapster truncated floats and cast them to uint64",
    "go-time-parse-detail": "the tail of a bad start/end message is ours, not Go's time.Parse wording",
    "unknown-pod-404": "metrics.k8s.io answers 404 NotFound for a pod that does not exist, Heapster 500",
    "spelling-fixed": "Heapster's 'availalble' is spelt 'available'",
}
"""Every intentional difference a golden exchange may name (README.md lists each with its reason)."""


def load(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text())


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


def go_indent(value: Any) -> bytes:
    """Go's ``json.MarshalIndent(v, " ", " ")`` of a golden answer (dict order = Go struct order)."""
    lines = json.dumps(value, indent=1, ensure_ascii=False).split("\n")
    text = "\n".join([lines[0], *(" " + line for line in lines[1:])])
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text.encode()


def go_compact(value: Any) -> bytes:
    """Go's ``json.NewEncoder(w).Encode(v)``: compact, newline-terminated."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def go_uint64_of(ours: float) -> int:
    """What Heapster's Model API wrote for a float: ``uint64(int64(v))``."""
    return math.trunc(ours) % 2**64


def compare(heapster: Any, ours: Any, path: str, difference: str | None, problems: list[str]) -> None:
    """Field by field; JSON types must match too (an int is not a float)."""
    if isinstance(heapster, dict) and isinstance(ours, dict):
        for key in heapster.keys() | ours.keys():
            if key not in ours:
                problems.append(f"{path}.{key}: missing (Heapster: {heapster[key]!r})")
            elif key not in heapster:
                problems.append(f"{path}.{key}: not in Heapster's answer (ours: {ours[key]!r})")
            else:
                compare(heapster[key], ours[key], f"{path}.{key}", difference, problems)
        return
    if isinstance(heapster, list) and isinstance(ours, list):
        if len(heapster) != len(ours):
            problems.append(f"{path}: {len(ours)} items, Heapster {len(heapster)}: {ours!r} vs {heapster!r}")
            return
        for index, (h, o) in enumerate(zip(heapster, ours, strict=True)):
            compare(h, o, f"{path}[{index}]", difference, problems)
        return
    if difference == "floats-kept" and path.endswith(".value") and isinstance(ours, float):
        if heapster != go_uint64_of(ours):
            problems.append(f"{path}: ours {ours!r} would be Heapster's {go_uint64_of(ours)}, not {heapster!r}")
        return
    if type(heapster) is not type(ours) or heapster != ours:
        problems.append(f"{path}: ours {ours!r}, Heapster {heapster!r}")


def exchanges(family: str) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{family}:{e['get']}{'@' + e['now'] if 'now' in e else ''}", e)
            for e in load(f"{family}.json")["exchanges"]]


ALL = [pair for family in ROUTE_FAMILIES for pair in exchanges(family)]


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
    difference = exchange.get("difference")
    assert difference is None or difference in DIFFERENCES, f"{difference} has no rule"
    base = await serve(exchange.get("settings", {}), exchange.get("now", golden_input["now"]))
    async with aiohttp.ClientSession() as session, session.get(base + exchange["get"]) as response:
        body = await response.read()
        status, content_type = response.status, response.content_type

    if difference == "unknown-pod-404":
        assert status == 404, body
        return
    assert status == exchange["status"], body
    if "text" in exchange:
        assert content_type == "text/plain"
        text = body.decode()
        if difference == "go-time-parse-detail":
            head = exchange["text"].split('"2006-01-02T15:04:05Z07:00": ')[0]
            assert text.startswith(head), text
        elif difference == "spelling-fixed":
            assert text == exchange["text"].replace("availalble", "available")
        else:
            assert text == exchange["text"]
        return

    assert content_type == "application/json"
    heapster, ours = exchange["json"], json.loads(body)
    if exchange.get("unordered"):
        heapster, ours = sorted(heapster, key=canonical), sorted(ours, key=canonical)
    problems: list[str] = []
    compare(heapster, ours, "$", difference, problems)
    assert not problems, "\n".join(problems)
    if not exchange.get("unordered") and difference is None:
        expected = go_compact(exchange["json"]) if exchange.get("compact") else go_indent(exchange["json"])
        assert body == expected, "same fields, but not the bytes go-restful wrote"


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
    scraped = {s.labels["source"] for s in families["heapster_scraper_duration_milliseconds"].samples}
    assert scraped == {"kubelet_summary:10.0.0.1:10250"}
    assert all(re.fullmatch(r"kubelet_summary:[\d.]+:\d+", source) for source in scraped)
    processors = {s.labels["processor"] for s in families["heapster_processor_duration_milliseconds"].samples}
    assert "rate calculator" in processors
    exporters = {s.labels["exporter"] for s in families["heapster_exporter_duration_milliseconds"].samples}
    assert exporters == {"Metric Sink"}
    assert not any(name.endswith("_created") for family in families.values() for name in
                   {s.name for s in family.samples})
