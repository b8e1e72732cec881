"""The scheduler on a fake clock: aligned windows, isolation of slow nodes and slow sinks."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

import numpy as np
from structlog.testing import capture_logs

from heapster import selfmetrics
from heapster.errors import HeapsterError
from heapster.interfaces import Processor
from heapster.model import DataBatch, MetricSet, MetricType, MetricValue
from heapster.scheduler import Scheduler, SchedulerSettings
from heapster.sinkqueue import SinkQueue
from heapster.testing import FakeClock, RecordingSink, StaticSource, StaticUnit
from heapster.testing.clock import settle
from heapster.testing.net import PATIENCE, async_wait_until

RES = 60.0


def unit(name: str, clock: FakeClock, **kwargs: object) -> StaticUnit:
    return StaticUnit(name, {f"node:{name}": MetricSet(labels={"type": "node", "nodename": name},
                                                       values={"memory/usage": MetricValue(1)})},
                      clock=clock, **kwargs)  # type: ignore[arg-type]


def make(clock: FakeClock, units: list[StaticUnit], sinks: list[RecordingSink],
         processors: list[Processor] | None = None, **settings: float) -> tuple[Scheduler, list[SinkQueue[DataBatch]]]:
    queues = [SinkQueue(s.name, s.export, clock=clock, backoff_initial=1.0) for s in sinks]
    sched = Scheduler(StaticSource(units), processors or [], queues,
                      SchedulerSettings(resolution=RES, **settings), clock=clock, rng=random.Random(1))
    return sched, queues


def test_windows_align_to_the_resolution() -> None:
    sched, _ = make(FakeClock(), [], [])
    assert sched.next_window(1_700_000_123.4) == (1_700_000_100.0, 1_700_000_160.0)


async def test_first_batch_is_the_window_end_scraped_after_the_offset() -> None:
    clock = FakeClock(start=1_700_000_100.0 + 10)  # 10 s into a window ending at ...160
    sink = RecordingSink()
    sched, _ = make(clock, [unit("a", clock)], [sink], max_jitter=0.0)
    stop = asyncio.Event()
    runner = asyncio.create_task(sched.run(stop))
    await clock.advance(54.9)  # ...164.9: before end + 5 s offset
    assert sink.batches == []
    await clock.advance(0.2)
    await settle()
    assert [b.timestamp for b in sink.batches] == [datetime.fromtimestamp(1_700_000_160, UTC)]
    assert list(sink.batches[0].metric_sets) == ["node:a"]
    await clock.advance(RES)
    assert len(sink.batches) == 2
    stop.set()
    await asyncio.wait_for(runner, 1)


async def test_a_failing_and_a_hung_node_affect_only_themselves() -> None:
    clock = FakeClock()
    sink = RecordingSink()
    hung = unit("hung", clock, delay=3600.0)
    units = [unit("ok1", clock), unit("broken", clock, error=HeapsterError("http 500")), hung, unit("ok2", clock)]
    sched, _ = make(clock, units, [sink], node_timeout=0.2, scrape_deadline=5.0, max_jitter=0.0)
    batch = await sched.housekeep(0.0, RES)  # node_timeout is real time: the hung node costs 0.2 s
    assert batch is not None
    assert sorted(batch.metric_sets) == ["node:ok1", "node:ok2"]
    await clock.advance(0)
    assert len(sink.batches) == 1


async def test_jitter_spreads_node_starts_within_8ms_per_node() -> None:
    clock = FakeClock()
    units = [unit(f"n{i}", clock) for i in range(10)]
    sched, _ = make(clock, units, [])
    task = asyncio.create_task(sched.scrape(0.0, RES))
    await settle()
    assert clock.sleepers == 10  # every node waits its random delay
    await clock.advance(0.079)  # 10 nodes x 8 ms = 80 ms maximum delay
    batch = await asyncio.wait_for(task, 1)
    assert len(batch.metric_sets) == 10


async def test_large_clusters_spread_scrapes_over_half_the_deadline_not_a_4s_burst() -> None:
    clock = FakeClock()
    units = [unit(f"n{i}", clock) for i in range(2000)]  # 2000 x 8 ms = 16 s of jitter wanted
    sched, _ = make(clock, units, [], scrape_deadline=20.0)
    task = asyncio.create_task(sched.scrape(0.0, RES))
    await settle()
    await clock.advance(4.0)  # Heapster's cap: with it, every node would have started by now
    started = sum(1 for u in units if u.scrapes)
    assert 250 < started < 1000  # about 4 of the 10 s
    await clock.advance(6.0)  # half of the 20 s deadline
    batch = await asyncio.wait_for(task, 5)
    assert len(batch.metric_sets) == 2000


async def test_large_clusters_start_their_scrapes_in_groups_of_about_ten() -> None:
    clock = FakeClock()
    units = [unit(f"n{i}", clock) for i in range(400)]  # 400 x 8 ms = 3.2 s of jitter: ticks of 80 ms
    sched, _ = make(clock, units, [])
    task = asyncio.create_task(sched.scrape(0.0, RES))
    await settle()
    wake_times = {round(at, 9) for at, _, future in clock._sleepers if not future.done()}
    assert 20 <= len(wake_times) <= 40  # not 400 lone wake-ups, and still spread over the 3.2 s
    assert max(wake_times) - clock.now() > 2.8
    await clock.advance(3.2)
    batch = await asyncio.wait_for(task, 5)
    assert len(batch.metric_sets) == 400


async def test_a_slow_sink_delays_neither_scraping_nor_other_sinks() -> None:
    clock = FakeClock()
    slow, fast = RecordingSink("slow"), RecordingSink("fast")
    slow.block()
    sched, queues = make(clock, [unit("a", clock)], [slow, fast], max_jitter=0.0)
    for window in range(3):
        batch = await asyncio.wait_for(sched.housekeep(window * RES, (window + 1) * RES), 1)
        assert batch is not None
        await clock.advance(0)
    assert len(fast.batches) == 3 and slow.batches == []
    assert queues[0].depth == 2  # one batch in flight, two waiting
    slow.unblock()
    await asyncio.wait_for(queues[0].drained(), 1)
    assert [b.timestamp for b in slow.batches] == [b.timestamp for b in fast.batches]


async def test_a_sink_outage_within_the_queue_bound_loses_no_batch() -> None:
    clock = FakeClock()
    sink = RecordingSink("flaky")
    sink.fail_retryable(4)
    sched, queues = make(clock, [unit("a", clock)], [sink], max_jitter=0.0)
    for window in range(4):
        await sched.housekeep(window * RES, (window + 1) * RES)
        await clock.advance(RES)
    await clock.advance(120)
    await asyncio.wait_for(queues[0].drained(), 1)
    assert len(sink.batches) == 4 and queues[0].retries == 4


async def test_processors_run_in_order_and_an_error_aborts_the_batch() -> None:
    clock = FakeClock()
    calls: list[str] = []

    class Tag(Processor):
        def __init__(self, name: str, fail: bool = False) -> None:
            self.name, self.fail = name, fail

        async def process(self, batch: DataBatch) -> DataBatch:
            calls.append(self.name)
            if self.fail:
                msg = "lister unavailable"
                raise RuntimeError(msg)
            return batch

    sink = RecordingSink()
    sched, _ = make(clock, [unit("a", clock)], [sink], [Tag("first"), Tag("second")], max_jitter=0.0)
    await sched.housekeep(0.0, RES)
    assert calls == ["first", "second"]
    sched.processors = [Tag("boom", fail=True), Tag("never")]
    assert await sched.housekeep(RES, 2 * RES) is None
    await clock.advance(0)
    assert calls[-1] == "boom" and len(sink.batches) == 1


async def test_shards_split_nodes_stably_and_completely() -> None:
    clock = FakeClock()
    units = [unit(f"node-{i}", clock) for i in range(30)]
    seen: list[set[str]] = []
    for index in range(3):
        sched, _ = make(clock, units, [], max_jitter=0.0, shard_index=index, shard_count=3)
        batch = await sched.scrape(0.0, RES)
        seen.append(set(batch.metric_sets))
    assert set.union(*seen) == {f"node:node-{i}" for i in range(30)}
    assert sum(len(s) for s in seen) == 30 and all(seen)


async def test_scrape_duration_is_labelled_per_unit_as_heapster() -> None:
    """Heapster: ``heapster_scraper_duration_milliseconds{source="kubelet_summary:<ip>:<port>"}`` with
    quantiles and ``heapster_scraper_last_time_seconds`` per source; our whole-window time is separate."""
    from heapster.selfmetrics import REGISTRY

    clock = FakeClock(start=1_700_000_000.0)
    name = "kubelet_summary:10.9.9.1:10250"
    sched, _ = make(clock, [unit(name, clock), unit("kubelet_summary:10.9.9.2:10250", clock,
                                                    error=HeapsterError("http 500"))], [], max_jitter=0.0)
    await sched.housekeep(0.0, RES)
    text = REGISTRY.exposition().decode()
    for source in (name, "kubelet_summary:10.9.9.2:10250"):  # a failed scrape is timed too, as in Heapster
        for quantile in ("0.5", "0.9", "0.99"):
            assert f'heapster_scraper_duration_milliseconds{{quantile="{quantile}",source="{source}"}}' in text
        assert f'heapster_scraper_last_time_seconds{{source="{source}"}} 1.7e+09' in text
    assert 'heapster_scrape_window_duration_milliseconds_count{source="static"}' in text
    assert 'heapster_scraper_duration_milliseconds_count{source="static"}' not in text


async def test_a_node_cut_at_the_scrape_deadline_is_counted_as_timeout_and_named() -> None:
    clock = FakeClock()
    hung = unit("late-node", clock, delay=3600.0)  # never answers; its own timeout (5 s) is past the deadline
    sched, _ = make(clock, [unit("ok", clock), hung], [], node_timeout=5.0, scrape_deadline=0.2, max_jitter=0.0)
    failures = selfmetrics.REGISTRY.get_sample_value
    labels = {"node": "late-node", "reason": "timeout"}
    before = failures("heapster_scrape_failures_total", labels) or 0.0
    with capture_logs() as logs:
        batch = await sched.scrape(0.0, RES)
    assert list(batch.metric_sets) == ["node:ok"]
    assert failures("heapster_scrape_failures_total", labels) == before + 1
    deadline = [e for e in logs if e["event"] == "scrape.deadline"]
    assert len(deadline) == 1 and deadline[0]["late"] == ["late-node"]
    assert deadline[0]["got"] == 1 and deadline[0]["expected"] == 2
    failed = [e for e in logs if e["event"] == "scrape.node.failed"]
    assert [(e["node"], e["reason"]) for e in failed] == [("late-node", "timeout")]
    assert "deadline" in failed[0]["error"]


async def test_every_window_is_scraped_when_the_resolution_equals_the_offset() -> None:
    clock = FakeClock(start=1_700_000_000.0 + 1)
    sink = RecordingSink()
    queues = [SinkQueue(sink.name, sink.export, clock=clock)]
    sched = Scheduler(StaticSource([unit("a", clock)]), [], queues,
                      SchedulerSettings(resolution=5.0, scrape_offset=5.0, scrape_deadline=5.0, max_jitter=0.0),
                      clock=clock, rng=random.Random(1))
    stop = asyncio.Event()
    runner = asyncio.create_task(sched.run(stop))
    for _ in range(8):
        await clock.advance(5.0)
        await settle()
    stop.set()
    await asyncio.wait_for(runner, 1)
    ends = [b.timestamp.timestamp() for b in sink.batches]
    # Windows end at ...005, ...010, ...; each is scraped 5 s after its end, none skipped.
    assert ends == [1_700_000_005.0 + 5 * i for i in range(len(ends))]
    assert len(ends) >= 6


async def test_a_loop_that_fell_behind_resumes_at_the_latest_due_window() -> None:
    sched, _ = make(FakeClock(), [], [])
    # The window ending at 60 was scheduled; the process then stood still until 305.
    assert sched.following_window(60.0, 100.0) == (60.0, 120.0)
    assert sched.following_window(60.0, 305.0) == (240.0, 300.0)


async def test_big_batches_are_joined_and_processed_off_the_event_loop(monkeypatch: Any) -> None:
    import threading

    import heapster.scheduler
    from heapster.interfaces import ColumnProcessor

    class WhereAmI(ColumnProcessor):
        name = "where"
        thread = ""

        def apply(self, batch: DataBatch) -> None:
            WhereAmI.thread = threading.current_thread().name
            batch.columns.set_values("seen", batch.columns.rows_of_type(1), np.ones(2, dtype=np.int64),
                                     MetricType.GAUGE)

    monkeypatch.setattr(heapster.scheduler, "OFF_LOOP_SETS", 2)
    clock = FakeClock()
    sched, _ = make(clock, [unit("a", clock), unit("b", clock)], [], [WhereAmI()], max_jitter=0.0)
    batch = await sched.housekeep(0.0, RES)
    assert batch is not None and WhereAmI.thread != threading.main_thread().name
    assert {k: ms.values["seen"].value for k, ms in batch.metric_sets.items()} == {"node:a": 1, "node:b": 1}


async def test_units_scraped_on_a_loop_of_their_own_leave_the_callers_loop_free() -> None:
    """With a ScrapeLoop (the daemon's default), units run on its thread; the caller's loop keeps running while a
    unit blocks its own loop, and a hung unit is still cut at the deadline there."""
    import threading

    from heapster.interfaces import SystemClock
    from heapster.scrapeloop import ScrapeLoop

    threads: list[str] = []
    blocking = threading.Event()  # the busy unit holds its loop from here ...
    caller_ran = threading.Event()  # ... until the caller's loop has run a step meanwhile (it never would on one loop)
    freed: list[bool] = []

    class Busy(StaticUnit):
        async def scrape(self, start: datetime, end: datetime) -> dict[str, MetricSet]:
            threads.append(threading.current_thread().name)
            blocking.set()
            # A decode holding its loop; a wait, not a measured gap, so the machine's load cannot fail the test.
            freed.append(caller_ran.wait(PATIENCE))
            return await super().scrape(start, end)

    async def probe() -> None:
        await async_wait_until(blocking.is_set, PATIENCE, what="the busy unit to start")
        caller_ran.set()

    system = SystemClock()
    busy = Busy("busy", {"node:busy": MetricSet(labels={"type": "node", "nodename": "busy"},
                                                values={"memory/usage": MetricValue(1)})})
    hung = StaticUnit("hung", {}, delay=3600.0, clock=system)
    loop = ScrapeLoop()
    try:
        sched = Scheduler(StaticSource([busy, hung]), [], [], SchedulerSettings(
            resolution=RES, scrape_deadline=1.0, node_timeout=5.0, max_jitter=0.0), clock=system, scrape_loop=loop)
        prober = asyncio.create_task(probe())
        batch = await sched.housekeep(0.0, RES)
        prober.cancel()
    finally:
        caller_ran.set()  # a unit still blocked on a failure lets the loop close
        loop.close()
    assert freed == [True]  # the caller's loop ran on while the unit held the scrape loop
    assert threads == ["heapster-scrape"]
    assert batch is not None and sorted(batch.metric_sets) == ["node:busy"]
    assert not loop.loop.is_running()


async def test_the_pipeline_may_pause_after_each_units_scrape_in_the_scrape_loops_thread() -> None:
    """The daemon pauses there for its API (``between_units``): once per scraped unit, between two decodes."""
    import threading

    from heapster.interfaces import SystemClock
    from heapster.scrapeloop import ScrapeLoop

    system = SystemClock()
    units = [StaticUnit(name, {f"node:{name}": MetricSet(labels={"type": "node", "nodename": name},
                                                         values={"memory/usage": MetricValue(1)})}, clock=system)
             for name in ("a", "b", "c")]
    loop = ScrapeLoop()
    pauses: list[str] = []
    try:
        sched = Scheduler(StaticSource(units), [], [], SchedulerSettings(resolution=RES, max_jitter=0.0),
                          clock=system, scrape_loop=loop)
        sched.between_units = lambda: pauses.append(threading.current_thread().name)
        batch = await sched.housekeep(0.0, RES)
    finally:
        loop.close()
    assert batch is not None and len(batch.metric_sets) == 3
    assert pauses == ["heapster-scrape"] * 3


class Seen(Processor):
    """Records the window of every batch it processes."""

    name = "seen"

    def __init__(self) -> None:
        self.windows: list[datetime] = []
        self.primed_after: list[int] = []

    async def process(self, batch: DataBatch) -> DataBatch:
        self.windows.append(batch.timestamp)
        return batch

    def primed(self) -> None:
        self.primed_after.append(len(self.windows))


async def test_priming_scrapes_and_processes_once_before_the_first_window_and_no_sink_gets_it() -> None:
    clock = FakeClock(start=1_700_000_100.0 + 10)  # 10 s into the window ending at ...160
    sink = RecordingSink()
    seen = Seen()
    a = unit("a", clock)
    sched, _ = make(clock, [a], [sink], [seen], max_jitter=0.0)
    with capture_logs() as logs:
        primed = await sched.prime()
    assert primed is not None and list(primed.metric_sets) == ["node:a"]
    assert a.scrapes == 1 and len(seen.windows) == 1  # connections, entity tables, processor caches: warm
    assert seen.primed_after == [1]  # told once, after the priming batch (the rate calculator forgets it)
    assert [e["event"] for e in logs] == ["scrape.priming", "scrape.primed"]
    await settle()
    assert sink.batches == [] and sched.last_batch is None and sched.batches == 0
    stop = asyncio.Event()
    runner = asyncio.create_task(sched.run(stop))
    await clock.advance(55.1)  # ...165.1: the first window is the usual one, scraped after its offset
    await settle()
    assert [b.timestamp for b in sink.batches] == [datetime.fromtimestamp(1_700_000_160, UTC)]
    assert a.scrapes == 2 and len(seen.windows) == 2
    stop.set()
    await asyncio.wait_for(runner, 1)


async def test_priming_that_a_processor_fails_gives_none_and_the_windows_still_run() -> None:
    clock = FakeClock(start=1_700_000_100.0 + 10)

    class Boom(Processor):
        name = "boom"
        fail = True

        async def process(self, batch: DataBatch) -> DataBatch:
            if self.fail:
                msg = "lister unavailable"
                raise RuntimeError(msg)
            return batch

    boom = Boom()
    sink = RecordingSink()
    sched, _ = make(clock, [unit("a", clock)], [sink], [boom], max_jitter=0.0)
    assert await sched.prime() is None
    boom.fail = False
    assert await sched.housekeep(1_700_000_100.0, 1_700_000_160.0) is not None
    await clock.advance(0)
    assert len(sink.batches) == 1


async def test_the_priming_scrape_has_four_scrape_deadlines() -> None:
    clock = FakeClock()
    hung = unit("hung", clock, delay=3600.0)
    sched, _ = make(clock, [unit("ok", clock), hung], [], node_timeout=5.0, scrape_deadline=0.05, max_jitter=0.0)
    with capture_logs() as logs:
        primed = await sched.prime()  # the hung node is cut at 4 x 0.05 s of real time
    assert primed is not None and list(primed.metric_sets) == ["node:ok"]
    cut = [e for e in logs if e["event"] == "scrape.deadline"]
    assert len(cut) == 1 and cut[0]["deadline"] == 0.2 and cut[0]["late"] == ["hung"]


async def test_the_priming_scrape_waits_for_a_node_beyond_the_node_timeout() -> None:
    # The node timeout also counts a unit's wait for a connection slot; priming leaves timing to the unit itself.
    clock = FakeClock()
    sched, _ = make(clock, [unit("slow", clock, delay=1.0)], [], node_timeout=0.0, scrape_deadline=5.0,
                    max_jitter=0.0)
    window = asyncio.create_task(sched.scrape(0.0, RES))
    await settle()
    await clock.advance(1.0)
    assert len(await window) == 0  # a window's scrape: cut at the node timeout
    priming = asyncio.create_task(sched.prime())
    await settle()
    await clock.advance(1.0)
    primed = await priming
    assert primed is not None and list(primed.metric_sets) == ["node:slow"]


async def test_the_window_joins_the_parts_in_the_units_order_whatever_order_they_finish_in() -> None:
    """The same order every window (the processors' and the store's "same rows as last time" paths need it)."""
    clock = FakeClock()
    names = [f"n{i:02d}" for i in range(40)]
    rng = random.Random(5)
    delays = [float(rng.randrange(1, 20)) for _ in names]  # they finish in another order than they were listed
    units = [unit(name, clock, delay=delay) for name, delay in zip(names, delays, strict=True)]
    sched, _ = make(clock, units, [], max_jitter=0.0, scrape_deadline=30.0)
    task = asyncio.create_task(sched.housekeep(0.0, RES))
    for _ in range(20):
        await clock.advance(1.0)
    batch = await asyncio.wait_for(task, 5)
    assert batch is not None
    assert list(batch.metric_sets) == [f"node:{name}" for name in names]


def _spin(seconds: float) -> None:
    """Pure-Python CPU work for ``seconds`` of real time, as a processor's or the store's step: holds the interpreter
    between switches."""
    import time

    until = time.monotonic() + seconds
    while time.monotonic() < until:
        sum(range(1000))


async def test_a_slow_batch_processing_does_not_make_the_next_windows_scrapes_time_out() -> None:
    """The first window's processing computes through one and a half windows (as a start's cold caches did at 5000
    nodes): the next windows' scrapes, on the scrape loop's thread, still answer within their node timeout."""
    from heapster.interfaces import SystemClock
    from heapster.scrapeloop import ScrapeLoop

    res = 1.0
    system = SystemClock()

    class SlowFirst(Processor):
        name = "slow first"
        calls = 0

        async def process(self, batch: DataBatch) -> DataBatch:
            self.calls += 1
            if self.calls == 1:
                await asyncio.to_thread(_spin, 1.5 * res)  # off the loops, sharing the interpreter
            return batch

    units = [StaticUnit(f"n{i}", {f"node:n{i}": MetricSet(labels={"type": "node", "nodename": f"n{i}"},
                                                           values={"memory/usage": MetricValue(i)})},
                        delay=0.02, clock=system) for i in range(20)]
    sink = RecordingSink()
    queue: SinkQueue[DataBatch] = SinkQueue(sink.name, sink.export)
    loop = ScrapeLoop()
    sched = Scheduler(StaticSource(units), [SlowFirst()], [queue], SchedulerSettings(
        resolution=res, scrape_offset=0.05, scrape_deadline=0.9, node_timeout=0.6, max_jitter=0.0),
        clock=system, scrape_loop=loop)
    stop = asyncio.Event()
    queue.start()
    with capture_logs() as logs:
        runner = asyncio.create_task(sched.run(stop))
        try:
            await async_wait_until(lambda: len(sink.batches) >= 4, timeout=15.0)
        finally:
            stop.set()
            await asyncio.wait_for(runner, 5.0)
            await queue.close(1.0)
            loop.close()
    assert [len(batch.metric_sets) for batch in sink.batches[:4]] == [20] * 4
    assert [e for e in logs if e["event"] in ("scrape.node.failed", "scrape.deadline", "housekeep.skipped")] == []


async def test_a_late_window_leaves_the_newest_batch_the_latest() -> None:
    """A window processed after a newer one (its scrape ran into the deadline) is warned about and stored, but the
    newest batch stays the latest one (what /healthz without the metric sink reads)."""
    clock = FakeClock()
    sink = RecordingSink()
    sched, _ = make(clock, [unit("a", clock)], [sink], max_jitter=0.0)
    await sched.housekeep(RES, 2 * RES)
    with capture_logs() as logs:
        late = await sched.housekeep(0.0, RES)
    assert late is not None and "housekeep.out_of_order" in [e["event"] for e in logs]
    assert sched.last_batch == (datetime.fromtimestamp(2 * RES, UTC), 1)
    with capture_logs() as logs:
        await sched.housekeep(0.0, RES)  # late again: still told
    assert "housekeep.out_of_order" in [e["event"] for e in logs]
    await sched.housekeep(2 * RES, 3 * RES)
    assert sched.last_batch == (datetime.fromtimestamp(3 * RES, UTC), 1)
    await clock.advance(0)
    assert len(sink.batches) == 4
