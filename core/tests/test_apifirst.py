"""The pipeline's pause for young API requests: while one is answered, for at most the span, not twice in a row."""

from __future__ import annotations

import asyncio
import selectors
import socket
import threading

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from heapster.api.thread import ApiThread
from heapster.apifirst import ActiveSelector, ApiFirst
from heapster.testing.net import wait_until


def paused_thread(first: ApiFirst, events: list[str]) -> threading.Thread:
    def pipeline_step() -> None:
        first.wait()
        events.append("resumed")

    thread = threading.Thread(target=pipeline_step)
    thread.start()
    return thread


def test_no_request_no_pause() -> None:
    first = ApiFirst(span=60.0)
    first.wait()
    assert first.paused == 0.0


def test_a_step_waits_until_the_young_request_is_answered() -> None:
    first = ApiFirst(span=60.0)
    token = first.begin()
    events: list[str] = []
    thread = paused_thread(first, events)
    wait_until(lambda: first.waiting == 1, timeout=5.0)
    events.append("answered")
    first.end(token)
    thread.join(5.0)
    assert events == ["answered", "resumed"]
    assert first.waiting == 0 and first.paused > 0


def test_an_old_request_does_not_pause_the_pipeline() -> None:
    first = ApiFirst(span=0.0)
    first.begin()  # never answered: older than the span at once
    first.wait()
    assert first.paused == 0.0


def test_a_thread_that_paused_runs_a_span_before_pausing_again() -> None:
    first = ApiFirst(span=60.0)
    token = first.begin()
    events: list[str] = []
    go_on = threading.Event()

    def two_steps() -> None:
        first.wait()
        events.append("first step")
        go_on.wait(5.0)
        first.wait()  # a new request is in flight, but this thread just paused: it goes on
        events.append("second step")

    thread = threading.Thread(target=two_steps)
    thread.start()
    wait_until(lambda: first.waiting == 1, timeout=5.0)
    first.end(token)
    wait_until(lambda: events == ["first step"], timeout=5.0)
    first.begin()
    go_on.set()
    thread.join(5.0)
    assert events == ["first step", "second step"]


async def test_the_middleware_registers_each_request_while_it_is_answered() -> None:
    first = ApiFirst(span=60.0)
    seen: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(len(first._started))
        return web.Response(text="ok")

    app = web.Application(middlewares=[first.middleware()])
    app.router.add_get("/", handler)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/")
        assert response.status == 200
    assert seen == [1]
    first.wait()  # answered: nothing to wait for
    assert first.paused == 0.0


class PipelineLoop:
    """An event loop running in a thread of its own, as the daemon's scrape loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def timers(self) -> int:
        """Timers scheduled on the loop, read from its own thread."""
        return asyncio.run_coroutine_threadsafe(self._timers(), self.loop).result(5.0)

    async def _timers(self) -> int:
        return len(self.loop._scheduled)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5.0)
        self.loop.close()


def test_an_idle_pipeline_loop_is_not_woken() -> None:
    first = ApiFirst(span=60.0)
    pipeline = PipelineLoop()
    try:
        first.pause_loop(pipeline.loop)
        assert pipeline.timers() == 0  # no request in flight: no check scheduled
    finally:
        pipeline.close()


def test_a_pipeline_loop_pauses_while_a_request_is_in_flight_then_stops_checking() -> None:
    first = ApiFirst(span=60.0)
    pipeline = PipelineLoop()
    try:
        first.pause_loop(pipeline.loop)
        token = first.begin()
        wait_until(lambda: first.waiting == 1, timeout=5.0)  # the loop's thread sleeps in its check
        first.end(token)
        wait_until(lambda: first.waiting == 0, timeout=5.0)
        assert first.paused > 0
        wait_until(lambda: pipeline.timers() == 0, timeout=5.0)  # no request left: the checks stopped
        token = first.begin()  # the next request wakes the loop again (which just paused: its turn to run)
        wait_until(lambda: pipeline.timers() == 1, timeout=5.0)
        first.end(token)
        wait_until(lambda: pipeline.timers() == 0, timeout=5.0)
    finally:
        pipeline.close()


def test_a_closed_pipeline_loop_is_forgotten() -> None:
    first = ApiFirst(span=0.0)
    loop = asyncio.new_event_loop()
    first.pause_loop(loop)
    loop.close()
    first.end(first.begin())
    assert first._loops == {}


def test_a_pipeline_loop_closed_while_checking_is_forgotten() -> None:
    first = ApiFirst(span=0.0)
    pipeline = PipelineLoop()
    first.pause_loop(pipeline.loop)
    token = first.begin()  # never answered: the loop keeps checking until it closes
    wait_until(lambda: pipeline.timers() == 1, timeout=5.0)
    pipeline.close()
    first.end(token)
    first.end(first.begin())
    assert first._loops == {}


def test_the_api_selector_marks_a_request_from_an_io_event_until_its_loop_is_idle() -> None:
    first = ApiFirst(span=60.0)
    selector = ActiveSelector(first)
    reader, writer = socket.socketpair()
    try:
        selector.register(reader, selectors.EVENT_READ)
        assert selector.select(0) == [] and not first.busy()  # no I/O: nothing marked
        writer.send(b"GET")
        assert selector.select(5.0)
        assert first.busy()  # bytes came: a request is in flight
        reader.recv(3)
        assert selector.select(0) == [] and first.busy()  # the loop still runs callbacks: still in flight
        assert selector.select(0.001) == [] and not first.busy()  # the loop waits again: answered
        writer.send(b"GET")
        assert selector.select(5.0) and first.busy()
    finally:
        selector.close()
        reader.close()
        writer.close()
    assert not first.busy()  # closed with a request marked: unmarked


async def test_the_api_thread_marks_a_request_before_any_middleware() -> None:
    first = ApiFirst(span=60.0)
    seen: list[bool] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(first.busy())
        return web.Response(text="ok")

    app = web.Application()  # no middleware of ``first``: only the API loop's own I/O marks the request
    app.router.add_get("/", handler)
    api = ApiThread(first=first)
    runner = await api.serve(app, {"listen_ip": "127.0.0.1", "heapster_port": 0})
    try:
        port = next(address[1] for address in runner.addresses if isinstance(address, tuple))
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/") as response:
            assert response.status == 200
    finally:
        await api.close(runner)
    assert seen == [True]
    assert not first.busy()


def test_the_api_selector_keeps_the_mark_while_events_are_ready() -> None:
    first = ApiFirst(span=60.0)
    selector = ActiveSelector(first)
    reader, writer = socket.socketpair()
    try:
        selector.register(reader, selectors.EVENT_READ)
        writer.send(b"GET")
        assert selector.select(5.0) and first.busy()
        token = first._started.copy()
        assert selector.select(5.0)  # the loop would wait, but the bytes are still there: the same mark
        assert first._started == token
    finally:
        selector.close()
        reader.close()
        writer.close()
