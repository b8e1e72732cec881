"""The daemon's start and stop: the HTTP API is up before the source is, and a second stop request is final."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import threading
import urllib.request
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from heapster.app import MANAGED_GC, Daemon
from heapster.errors import RetryableError
from heapster.interfaces import MetricSink, MetricSource, Processor, ScrapeUnit
from heapster.model import DataBatch, MetricSet, MetricValue
from heapster.scheduler import Scheduler, SchedulerSettings
from heapster.sinkqueue import SinkQueue
from heapster.store import MetricStore
from heapster.testing import RecordingSink, StaticSource, StaticUnit
from heapster.testing.net import PATIENCE, async_wait_until

SETTINGS: dict[str, Any] = {"listen_ip": "127.0.0.1", "heapster_port": 0, "tls_cert": "", "tls_key": "",
                            "metric_resolution": 5.0, "shutdown_timeout": 60.0}


class UnreachableApiSource(MetricSource):
    """A source whose start waits for an API server that never answers (until ``reachable`` is set)."""

    name = "unreachable"

    def __init__(self) -> None:
        self.reachable = asyncio.Event()
        self.started = False

    async def start(self) -> None:
        await self.reachable.wait()
        self.started = True

    async def scrape_units(self) -> Sequence[ScrapeUnit]:
        return []


class DownSink(MetricSink):
    """A sink whose server is down: every export fails and is worth retrying."""

    name = "down"
    attempts = 0

    async def export(self, batch: DataBatch) -> None:
        self.attempts += 1
        raise RetryableError("connection refused")


def daemon(source: MetricSource, queues: list[SinkQueue[DataBatch]], store: MetricStore | None = None,
           **settings: Any) -> Daemon:
    scheduler = Scheduler(source, [], queues, SchedulerSettings(resolution=5.0))
    return Daemon({**SETTINGS, **settings}, source, [], [], queues, scheduler, store=store)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def answer(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as response:
        return response.status, await response.text()


until = functools.partial(async_wait_until, timeout=PATIENCE, interval=0.01)

STOPPED = 20.0
"""Seconds a stopping daemon gets to end (a third of the 60 s flush a second stop must cut short)."""


async def test_probes_answer_while_the_api_server_is_unreachable(session: aiohttp.ClientSession) -> None:
    source = UnreachableApiSource()
    store = MetricStore()
    d = daemon(source, [], store)
    run = asyncio.create_task(d.run())
    await until(lambda: d.api_url)
    assert await answer(session, d.api_url + "/livez") == (200, "ok")
    assert (await answer(session, d.api_url + "/healthz"))[0] == 500  # Heapster's: no batch yet
    assert await answer(session, d.api_url + "/readyz") == (
        503, "not ready: could not get the latest data batch\n")
    assert not source.started  # the probes answered while the source's start still waited for the API server
    store.ingest(DataBatch(datetime.now(UTC), {"node:n": MetricSet({"type": "node"}, {"uptime": MetricValue(1)})}))
    assert await answer(session, d.api_url + "/readyz") == (200, "ok")
    d.request_stop()  # while the source is still starting: stops at once
    await asyncio.wait_for(run, STOPPED)


async def test_without_a_store_readiness_follows_the_pipeline(session: aiohttp.ClientSession) -> None:
    source = UnreachableApiSource()
    d = daemon(source, [])
    run = asyncio.create_task(d.run())
    await until(lambda: d.api_url)
    assert (await answer(session, d.api_url + "/readyz"))[0] == 503
    d.scheduler.last_batch = (datetime.now(UTC), 1)
    assert await answer(session, d.api_url + "/readyz") == (200, "ok")
    assert await answer(session, d.api_url + "/healthz") == (200, "ok")
    d.request_stop()
    await asyncio.wait_for(run, STOPPED)


async def test_a_second_stop_request_ends_the_flush_at_once() -> None:
    source = UnreachableApiSource()
    source.reachable.set()
    sink = DownSink()
    queue: SinkQueue[DataBatch] = SinkQueue(sink.name, sink.export, backoff_initial=0.05)
    queue.put(DataBatch(datetime.now(UTC), {}))
    d = daemon(source, [queue])
    run = asyncio.create_task(d.run())
    await until(lambda: source.started)
    d.request_stop()  # the flush now waits up to shutdown_timeout (60 s) for the sink
    tried = sink.attempts
    await until(lambda: sink.attempts >= tried + 2)
    assert not run.done()
    d.request_stop()
    await asyncio.wait_for(run, STOPPED)  # not the 60 s flush


async def test_the_daemon_collects_garbage_itself_while_running_and_restores_the_collector_on_stop() -> None:
    source = UnreachableApiSource()
    source.reachable.set()
    d = daemon(source, [])
    assert gc.isenabled()
    run = asyncio.create_task(d.run())
    await until(lambda: MANAGED_GC.started)
    assert not gc.isenabled()  # collections come from the daemon's timer, between batches
    d.request_stop()
    await asyncio.wait_for(run, STOPPED)
    assert gc.isenabled() and not MANAGED_GC.started


def fetch_in_thread(url: str, answered: threading.Event, bodies: list[bytes]) -> threading.Thread:
    """GET ``url`` from a thread of its own (the test's loop may be blocked meanwhile)."""

    def get() -> None:
        with urllib.request.urlopen(url, timeout=10) as response:
            bodies.append(response.read())
        answered.set()

    thread = threading.Thread(target=get)
    thread.start()
    return thread


async def test_the_api_answers_while_the_daemons_loop_is_busy() -> None:
    source = UnreachableApiSource()
    store = MetricStore()
    store.ingest(DataBatch(datetime.now(UTC), {"node:n": MetricSet({"type": "node"}, {"uptime": MetricValue(7)})}))
    d = daemon(source, [], store)
    run = asyncio.create_task(d.run())
    await until(lambda: d.api_url)
    answered = threading.Event()
    bodies: list[bytes] = []
    thread = fetch_in_thread(d.api_url + "/api/v1/model/nodes/n/metrics/uptime", answered, bodies)
    # The daemon's loop (this one) is held by a long step, as by a store write or a processor: the
    # answer comes anyway, from the API's own loop.
    assert answered.wait(10)
    thread.join(10)
    assert json.loads(bodies[0])["metrics"][0]["value"] == 7
    d.request_stop()
    await asyncio.wait_for(run, STOPPED)


class LoopReportingHistory:
    """A historical source whose one route says whether it ran on the loop that made the source."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()

    def historical_app(self) -> web.Application:
        async def where(request: web.Request) -> web.Response:
            return web.json_response({"on_daemon_loop": asyncio.get_running_loop() is self.loop,
                                      "thread": threading.current_thread().name})

        app = web.Application()
        app.router.add_get("/where", where)
        return app


async def test_historical_routes_run_on_the_daemons_loop(session: aiohttp.ClientSession) -> None:
    source = UnreachableApiSource()
    d = daemon(source, [], MetricStore())
    d.historical = LoopReportingHistory()
    run = asyncio.create_task(d.run())
    await until(lambda: d.api_url)
    async with session.get(d.api_url + "/api/v1/historical/where") as response:
        assert (await response.json())["on_daemon_loop"] is True
    async with session.get(d.api_url + "/livez") as response:
        assert response.status == 200
    d.request_stop()
    await asyncio.wait_for(run, STOPPED)


async def test_the_real_pipeline_primes_every_node_before_its_first_window() -> None:
    class Seen(Processor):
        name = "seen"
        batches = 0

        async def process(self, batch: DataBatch) -> DataBatch:
            self.batches += 1
            return batch

    node = StaticUnit("a", {"node:a": MetricSet(labels={"type": "node", "nodename": "a"},
                                                values={"memory/usage": MetricValue(1)})})
    seen, sink = Seen(), RecordingSink()
    queue: SinkQueue[DataBatch] = SinkQueue(sink.name, sink.export)
    source = StaticSource([node])
    scheduler = Scheduler(source, [seen], [queue], SchedulerSettings(resolution=5.0))
    d = Daemon(SETTINGS, source, [seen], [sink], [queue], scheduler)
    run = asyncio.create_task(d.run())
    try:
        await until(lambda: seen.batches == 1)
        # Scraped and processed once at start (on the scrape loop), and no sink got that batch: the first window
        # is scraped 5 s after its end at the earliest.
        assert node.scrapes == 1 and sink.batches == [] and d.scheduler.last_batch is None
    finally:
        d.request_stop()
        await asyncio.wait_for(run, STOPPED)


async def test_the_metric_store_registers_the_priming_batch_and_shows_none_of_it() -> None:
    node = StaticUnit("a", {"node:a": MetricSet(labels={"type": "node", "nodename": "a"},
                                                values={"memory/usage": MetricValue(1)})})
    store = MetricStore()
    queue: SinkQueue[DataBatch] = SinkQueue(store.name, store.export)
    source = StaticSource([node])
    scheduler = Scheduler(source, [], [queue], SchedulerSettings(resolution=5.0))
    d = Daemon(SETTINGS, source, [], [store], [queue], scheduler, store=store)
    run = asyncio.create_task(d.run())
    try:
        # Its cold first write is done before the first window: the key is registered, with nothing stored.
        await until(lambda: "node:a" in store)
        assert node.scrapes == 1 and store.latest_timestamp is None and store.latest_keys() == []
        assert store.get_metric("memory/usage", ["node:a"]) == {} and d.scheduler.last_batch is None
    finally:
        d.request_stop()
        await asyncio.wait_for(run, STOPPED)


async def test_what_priming_built_is_out_of_the_collectors_sight_before_the_first_window() -> None:
    class Caching(Processor):
        """Builds a cache on its first batch (as the enrichers' pod tables are built in priming)."""

        name = "caching"
        cache: dict[str, list[str]] | None = None

        async def process(self, batch: DataBatch) -> DataBatch:
            if self.cache is None:
                self.cache = {"built": ["in priming"]}
            return batch

    caching = Caching()
    node = StaticUnit("a", {"node:a": MetricSet(labels={"type": "node", "nodename": "a"},
                                                values={"memory/usage": MetricValue(1)})})
    source = StaticSource([node])
    scheduler = Scheduler(source, [caching], [], SchedulerSettings(resolution=5.0))
    d = Daemon(SETTINGS, source, [caching], [], [], scheduler)
    run = asyncio.create_task(d.run())
    try:
        await until(lambda: caching.cache is not None)
        # The collector's young and middle collections no longer walk it (gc.freeze): it is in no generation.
        await until(lambda: not any(found is caching.cache for found in gc.get_objects()))
        assert d.scheduler.last_batch is None  # before the first window
    finally:
        d.request_stop()
        await asyncio.wait_for(run, STOPPED)
