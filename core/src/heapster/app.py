"""Assembling and running the heapster daemon from parsed settings."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from heapster.aio import unless_set
from heapster.apifirst import API_FIRST
from heapster.batchcodec import DATA_BATCH_CODEC
from heapster.errors import RuntimeFailure, UsageError
from heapster.flags import MEMORY_QUEUE_SIZE, SinkQueueBounds, sink_queue_bounds
from heapster.gcpolicy import ManagedGc
from heapster.handover import LeaderExport
from heapster.interfaces import (
    Clock,
    HistoricalSource,
    MetricSink,
    MetricSource,
    PluginContext,
    Processor,
    SystemClock,
)
from heapster.leader import default_identity, lease_timing, parse_ref
from heapster.memory import (
    fix_mmap_threshold,
    limit_malloc_arenas,
    release_free_memory,
    share_the_interpreter,
    shrink_tls_read_buffers,
    tune_gc,
)
from heapster.model import DataBatch
from heapster.pausepoint import pause_with
from heapster.plugins import HISTORICAL_SOURCE, Plugins, Registration, known_providers, load_plugins
from heapster.queuestore import MemoryStore, QueueStore, open_store
from heapster.scheduler import BatchConsumer, Scheduler, SchedulerSettings
from heapster.scrapeloop import ScrapeLoop
from heapster.settings import HeapsterSettings
from heapster.shards.role import AggregatorRole, FirstShard, LeaseHolder
from heapster.sinkqueue import SinkQueue
from heapster.uri import PluginConfig, mask_uri, parse_uri, unique_idents, without_queue_options

log = structlog.get_logger("heapster.app")


def scheduler_settings(settings: HeapsterSettings) -> SchedulerSettings:
    """Pipeline timing from flags: the scrape deadline never exceeds the window."""
    resolution = settings.metric_resolution
    deadline = min(20.0, resolution)
    shard_index, shard_count = settings.shard
    return SchedulerSettings(
        resolution=resolution,
        scrape_deadline=deadline,
        node_timeout=min(settings.kubelet_timeout, deadline),
        shard_index=shard_index,
        shard_count=shard_count,
    )


MANAGED_GC = ManagedGc(API_FIRST.busy)
"""The process's one: while the pipeline runs, garbage is collected between batches, not mid-answer."""

METRIC_STORE_SINK = "metric"
"""Heapster's sink key of its in-memory metric sink (the store the model and metrics APIs read): added implicitly,
and built once if a ``--sink`` names it, even with --disable_metric_sink; its URI options were never read."""


@dataclass
class Daemon:
    """The assembled pipeline: source, processors, sink queues, scheduler and the optional HTTP API."""

    settings: HeapsterSettings
    source: MetricSource
    processors: list[Processor]
    sinks: list[MetricSink]
    queues: list[SinkQueue[DataBatch]]
    scheduler: Scheduler
    store: Any = None
    historical: HistoricalSource | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    force: asyncio.Event = field(default_factory=asyncio.Event)
    api_url: str = ""
    """``scheme://host:port`` of the HTTP API once it listens."""
    leadership: LeaderExport | None = None
    """With ``--leader-elect``: lets only the Lease holder feed the sink queues."""
    shards: Any = None
    """The :class:`heapster.shards.coordinator.ShardCoordinator` with ``--shard=I/N`` (N > 1)."""
    _api_thread: Any = field(default=None, init=False, repr=False)
    """The :class:`heapster.api.thread.ApiThread` serving the HTTP API."""

    def __post_init__(self) -> None:
        self.settings = HeapsterSettings.of(self.settings)  # a mapping of flag values (tests) becomes typed

    async def run(self) -> None:
        """Serve the HTTP API, start the source, run until SIGTERM/SIGINT (or ``stop``), then flush the sinks.

        The API (and ``/healthz``, failing until the first batch) is up before the source waits for
        the Kubernetes API. A second signal (``force``) ends the wind-down at once.
        """
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not in the main thread
                loop.add_signal_handler(sig, self.request_stop)
        try:
            api_runner = await self._start_api()
        except (OSError, UsageError) as exc:  # UsageError: a --tls_* file that cannot be loaded
            if self._api_thread is not None:
                await self._api_thread.close(None)
            await self.source.close()
            if isinstance(exc, UsageError):
                raise
            host = self.settings.listen_ip or "0.0.0.0"
            msg = f"cannot serve the HTTP API on {host}:{self.settings.heapster_port}: {exc.strerror or exc}"
            raise RuntimeFailure(msg) from None
        for queue in self.queues:
            if self.leadership is None or queue not in self.leadership.queues:  # else started when leading
                queue.start()  # connects the sink and replays what a queue on disk kept from the last run
        if self.scheduler.scrape_loop is None and isinstance(self.scheduler.clock, SystemClock):
            self.scheduler.scrape_loop = ScrapeLoop()  # a fake clock's sleeps belong to the test's loop
            # The pipeline pauses for young API requests: between store write steps and on both its loops.
            API_FIRST.pause_loop(self.scheduler.scrape_loop.loop)
            API_FIRST.pause_loop(loop)
            self.scheduler.between_units = API_FIRST.wait
            pause_with(API_FIRST.wait)  # the processors' and the join's worker threads
            if self.store is not None:
                self.store.between_steps = API_FIRST.wait
        try:
            started = await self._until_stopped(self._start_source())
            if started:
                electing = asyncio.ensure_future(self.leadership.run(self.stop)) if self.leadership else None
                if electing is not None:
                    electing.add_done_callback(self._election_ended)
                await self._until_forced(self.scheduler.run(self.stop))
                if electing is not None:
                    await self._until_forced(electing)
        finally:
            if not self.force.is_set():
                log.info("heapster.stopping", flush_timeout=self.settings.shutdown_timeout,
                         note="a second SIGINT/SIGTERM exits without waiting for the flush")
            await self._until_forced(asyncio.gather(
                *(q.close(self.settings.shutdown_timeout) for q in self.queues)))
            if self.leadership is not None:
                await self._until_forced(self.leadership.close())
            await self._until_forced(self.source.close())
            if self.scheduler.scrape_loop is not None:
                await asyncio.to_thread(self.scheduler.scrape_loop.close)
            MANAGED_GC.stop()
            pause_with(None)
            if self._api_thread is not None:
                await self._until_forced(self._api_thread.close(api_runner))
            if self.shards is not None:
                await self._until_forced(self.shards.close())
            log.info("heapster.stopped", forced=self.force.is_set() or None)

    def _election_ended(self, electing: asyncio.Future[None]) -> None:
        """Leader election only ends with a stop; if it failed, exports would silently stop: exit instead."""
        if not electing.cancelled() and electing.exception() is not None:
            log.error("leader_elect.failed", error=str(electing.exception()))
            self.request_stop()

    def request_stop(self) -> None:
        """The first call stops the pipeline and flushes the sinks; a second one gives up waiting."""
        if not self.stop.is_set():
            self.stop.set()
        elif not self.force.is_set():
            log.warning("heapster.stop.forced", note="not waiting for the sinks to flush")
            self.force.set()

    async def _start_source(self) -> bool:
        if self.shards is not None:
            await self.shards.start()
        await self.source.start()
        tune_gc()
        if self.scheduler.scrape_loop is not None:  # the real pipeline (not a test's fake clock)
            MANAGED_GC.start(asyncio.get_running_loop())
        shrink_tls_read_buffers()
        share_the_interpreter()
        if self.scheduler.scrape_loop is not None:  # the real pipeline: a start's cold costs before window one
            await self._prime()
            self._freeze_the_primed_state()
        first_batch_in = self._first_batch_in()
        log.info("heapster.running", resolution=self.settings.metric_resolution,
                 first_batch_in=round(first_batch_in, 1))
        first_at = self.scheduler.clock.now() + first_batch_in
        log.info("scrape.waiting", waiting_for="the first scrape",
                 window_end=_clock_time(first_at - self.scheduler.settings.scrape_offset),
                 first_batch_at=_clock_time(first_at))
        return True

    async def _prime(self) -> None:
        """Scrape and process every node once (:meth:`Scheduler.prime`); the metric store then registers the
        priming batch's metric sets, series and rows, storing none of its values: its cold first write (about 7 s
        of CPU at 5000 nodes) is done before the first window, not in the next windows' scrapes."""
        primed = await self.scheduler.prime()
        if primed is not None and self.store is not None:
            began = time.process_time()
            await asyncio.to_thread(self.store.prepare, primed)
            log.info("store.prepared", metric_sets=len(primed),
                     process_cpu_seconds=round(time.process_time() - began, 1))

    @staticmethod
    def _freeze_the_primed_state() -> None:
        """Move what priming built (connections, each node's entity table, the enrichers' pod tables, the store's
        registries: millions of objects at 5000 nodes) out of the collector's sight, as :func:`tune_gc` did at
        start-up. A collection holds the interpreter: the scrape thread waits through it. In process at 1000 nodes
        after priming, the young, middle and full collections took 0.36, 0.31 and 0.30 s of CPU, then 1-4 ms each
        once frozen; at 5000 nodes the freeze is 1.9 s of CPU once, here, before the first window."""
        began = time.process_time()
        tune_gc()
        log.info("gc.frozen", objects=gc.get_freeze_count(), cpu_seconds=round(time.process_time() - began, 1))

    async def _until_stopped(self, work: Awaitable[bool]) -> bool:
        """``work``'s result, or False if a stop was requested first (``work`` is then cancelled)."""
        return bool(await self._race(work, self.stop))

    async def _until_forced(self, work: Awaitable[Any]) -> None:
        """Wait for ``work`` unless a forced stop comes first (``work`` is then cancelled)."""
        await self._race(work, self.force)

    @staticmethod
    async def _race(work: Awaitable[Any], event: asyncio.Event) -> Any:
        finished, result = await unless_set(work, event)
        return result if finished else False

    def _first_batch_in(self) -> float:
        s = self.scheduler
        now = s.clock.now()
        _, end = s.next_window(now)
        return end + s.settings.scrape_offset - now

    def _latest_batch(self) -> tuple[datetime | None, int]:
        return self.scheduler.last_batch or (None, 0)

    async def _start_api(self) -> Any:
        # Served also with --disable_metric_sink, as Heapster did: /healthz and /metrics stay useful.
        from heapster.api import create_api_app
        from heapster.api.thread import ApiThread

        app = create_api_app(self.store, self.source.cluster, self.settings, historical=self.historical,
                             latest_batch=self._latest_batch, shards=self.shards,
                             pipeline_loop=asyncio.get_running_loop())
        # On a loop of its own: answers never wait behind a pipeline step on this loop.
        self._api_thread = ApiThread(first=API_FIRST)
        app.middlewares.insert(0, API_FIRST.middleware())
        runner = await self._api_thread.serve(app, self.settings)
        scheme = "https" if self.settings.tls_cert else "http"
        host = self.settings.listen_ip or "0.0.0.0"
        local = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        bound = [a for a in runner.addresses if isinstance(a, tuple)]
        port = bound[0][1] if bound else self.settings.heapster_port  # the real port when given 0
        self.api_url = f"{scheme}://{local}:{port}"
        log.info("api.listening", url=f"{scheme}://{host}:{port}",
                 dashboard=f"{scheme}://{local}:{port}/" if self.store is not None else None)
        return runner


async def build_daemon(values: HeapsterSettings | Mapping[str, Any], plugins: Plugins | None = None,
                       clock: Clock | None = None) -> Daemon:
    """Build every part named by the flags; usage mistakes raise UsageError before anything starts.

    ``values`` is the parsed command line (:func:`heapster.flags.parse_heapster_settings`); a mapping
    of flag values by canonical name is converted (missing flags take their defaults).
    """
    limit_malloc_arenas()  # before any thread of the daemon allocates
    fix_mmap_threshold()
    settings = HeapsterSettings.of(values)
    plugins = plugins or load_plugins(strict=settings.strict_plugins)
    context = PluginContext(settings=settings, clock=clock or SystemClock())
    source_spec = settings.source[0]
    # Configure the source and every sink before logging or connecting anything, so a bad URI
    # fails fast with one line and exit 2.
    source_reg, source_config = plugins.configure("source", source_spec)
    plugin_sinks = [spec for spec in settings.sink if parse_uri(spec).key != METRIC_STORE_SINK]
    store_named = len(plugin_sinks) < len(settings.sink)
    if settings.historical_source and parse_uri(settings.historical_source).key == METRIC_STORE_SINK:
        msg = (f"sink {METRIC_STORE_SINK!r} (the in-memory store) cannot serve --historical_source; "
               f"sinks that can: {_historical_sinks(plugins)}")
        raise UsageError(msg)
    sink_configs = [(spec, *plugins.configure("sink", spec)) for spec in plugin_sinks]
    queue_flags = settings.sink_queue_flags
    sink_queue_bounds(queue_flags, MEMORY_QUEUE_SIZE)  # checks the flags even without a --sink
    sink_bounds = [sink_queue_bounds(queue_flags, MEMORY_QUEUE_SIZE, config.queue) for _, _, config in sink_configs]
    # The queue file is named after the sink without its queue options, so retuning the queue keeps it.
    masked = unique_idents([mask_uri(without_queue_options(spec), reg.secret_options) for spec, reg, _ in sink_configs],
                           str)
    # Opened before connecting anything: a queue file another heapster holds fails at once.
    stores = [open_store(b.directory, "metrics", ident, DATA_BATCH_CODEC) for b, ident in zip(sink_bounds, masked,
                                                                                             strict=True)]
    source: MetricSource = source_reg.factory(source_config, context)
    # Sinks are built before anything is logged too: their factories check what options alone
    # cannot (ports, choices, required pairs) without I/O, so such a mistake is also one line, exit 2.
    built: list[tuple[str, Any, MetricSink, QueueStore[DataBatch], SinkQueueBounds]] = []
    idents: dict[int, str] = {}  # id(sink) -> its masked URI, naming it in the Lease's handover record
    for store_of_sink, bounds_of_sink, ident, (spec, reg, config) in zip(stores, sink_bounds, masked, sink_configs,
                                                                         strict=True):
        try:
            built.append((spec, reg, reg.factory(config, context), store_of_sink, bounds_of_sink))
            idents[id(built[-1][2])] = ident
        except UsageError:
            raise
        except Exception as exc:
            log.error("sink.create.failed", sink=mask_uri(spec, reg.secret_options), error=str(exc))
            store_of_sink.close()
    # Logged once the flags are known to be good, so a usage error stays a single line.
    log.info("plugins.loaded", distributions=sorted({f"{p.distribution} {p.version}" for p in plugins.plugins}),
             failed=[f.distribution for f in plugins.failures] or None)
    log.info("source.configured", source=mask_uri(source_spec))
    plugins.warn_ignored("source", source_config)
    for _, _, sink_config in sink_configs:
        plugins.warn_ignored("sink", sink_config)
    context.cluster = source.cluster  # filled once the daemon starts the source
    sinks: list[MetricSink] = []
    sink_queues: dict[int, tuple[QueueStore[DataBatch], SinkQueueBounds]] = {}
    historical: HistoricalSource | None = None
    for spec, reg, sink, store_of_sink, bounds_of_sink in built:
        sinks.append(sink)
        sink_queues[id(sink)] = (store_of_sink, bounds_of_sink)
        if settings.historical_source == spec:
            historical = _historical_source(plugins, reg, sink)
        log.info("sink.created", sink=mask_uri(spec, reg.secret_options), name=sink.name)
    if plugin_sinks and not sinks and not store_named:
        msg = "no available sink to use: every --sink failed to start"
        raise RuntimeFailure(msg)
    if settings.historical_source and historical is None:
        msg = "the --historical_source sink failed to start"
        raise RuntimeFailure(msg)
    store = None
    if store_named or not settings.disable_metric_sink:
        store = _create_store(settings)
        if store is not None:
            sinks.append(store)
    processors = plugins.build_processors(context)
    log.info("pipeline.built", processors=[p.name for p in processors], sinks=[s.name for s in sinks])
    in_memory = SinkQueueBounds("", settings.sink_queue_size or MEMORY_QUEUE_SIZE, None,
                                settings.sink_queue_max_age)  # the metric store's queue
    leadership = _leadership(plugins, source_config, settings, context) if settings.leader_elect else None
    # With --shard, every shard exports its own nodes: the Lease then only picks who writes the aggregates.
    gate = leadership if leadership is not None and settings.shard[1] <= 1 else None
    queues = []
    consumers: list[BatchConsumer] = [gate] if gate is not None else []
    for sink in sinks:
        store_of_sink, bounds_of_sink = sink_queues.get(id(sink), (MemoryStore(), in_memory))
        exported = gate is not None and id(sink) in sink_queues
        acknowledged = gate.acknowledger(idents[id(sink)]) if gate is not None and exported else None
        if sink is store:
            acknowledged = _trim_once_stored
        queue = _sink_queue(sink, store_of_sink, bounds_of_sink, settings, context.clock, acknowledged,
                            in_process=sink is store)
        queues.append(queue)
        if gate is not None and exported:
            gate.add(idents[id(sink)], queue)
        else:
            consumers.append(queue)  # the metric store (every replica keeps it for the API), or a shard's sinks
    shards = _shard_coordinator(settings, plugins, source_config, context, leadership)
    local_sink = next((q for q, sink in zip(queues, sinks, strict=True) if sink is store), None)
    scheduler = Scheduler(source, processors, consumers, scheduler_settings(settings), clock=context.clock,
                          shards=shards, local_sink=local_sink)
    return Daemon(settings, source, processors, sinks, queues, scheduler, store=store, historical=historical,
                  leadership=leadership, shards=shards)


def _leadership(plugins: Plugins, source_config: PluginConfig, settings: HeapsterSettings,
                context: PluginContext) -> LeaderExport:
    """``--leader-elect``: the plugin's elector for the source's cluster, and the gate before the sinks."""
    timing = lease_timing(settings.leader_elect_lease_duration, settings.leader_elect_renew_deadline,
                          settings.leader_elect_retry_period, check=True)
    identity = settings.leader_elect_identity or default_identity()
    lease = timing.settings(parse_ref(settings.leader_elect_lease, "--leader-elect-lease"), identity)
    elector = plugins.build_leader_elector(source_config, lease, context)
    log.info("leader_elect.configured", lease=f"{lease.namespace}/{lease.name}", identity=identity,
             lease_duration=lease.lease_duration, renew_deadline=lease.renew_deadline,
             retry_period=lease.retry_period)
    return LeaderExport(elector, resolution=settings.metric_resolution, store_duration=settings.store_duration)


def _historical_source(plugins: Plugins, reg: Registration, sink: MetricSink) -> HistoricalSource:
    """The ``--historical_source`` sink as a :class:`HistoricalSource`; UsageError naming the sinks that can be one."""
    if reg.historical and isinstance(sink, HistoricalSource):
        return sink
    msg = (f"sink {reg.key!r} ({reg.plugin.distribution}) cannot serve --historical_source; "
           f"sinks that can: {_historical_sinks(plugins)}")
    raise UsageError(msg)


def _historical_sinks(plugins: Plugins) -> str:
    """The sinks that can serve --historical_source: installed ones, then known ones with their distribution."""
    installed = plugins.historical_keys()
    known = known_providers().get(HISTORICAL_SOURCE, {})
    others = [f"{key} ({dist})" for key, dist in sorted(known.items()) if key not in installed]
    return ", ".join([*installed, *others]) or "none known"


def aggregator_role(index: int, leadership: LeaderExport | None) -> AggregatorRole:
    """Who writes the combined namespace and cluster aggregates: the Lease holder with ``--leader-elect``
    (any shard can take over), else shard 0."""
    return LeaseHolder(leadership.elector) if leadership is not None else FirstShard(index)


def _shard_coordinator(settings: HeapsterSettings, plugins: Plugins, source_config: PluginConfig,
                       context: PluginContext, leadership: LeaderExport | None = None) -> Any:
    """With ``--shard=I/N`` (N > 1): the coordinator of aggregates and peers, else None."""
    index, count = settings.shard
    if count <= 1:
        return None
    from heapster.shards.client import PeerClient
    from heapster.shards.coordinator import ShardCoordinator, historical_fingerprint
    from heapster.shards.discovery import Peers, PeerService
    from heapster.shards.tls import peer_ssl_context

    service = watch = None
    if settings.shard_service:
        service = PeerService(settings.shard_namespace, settings.shard_service, settings.shard_port_name,
                              "https" if settings.tls_cert else "http")
        watch = plugins.build_peer_discovery(source_config, service, context)
        log.info("shards.configured", shard=index, shards=count, service=f"{service.namespace}/{service.name}",
                 aggregator="the Lease holder" if leadership is not None else "shard 0")
    else:
        log.warning("shards.no_peers", shard=index, shards=count,
                    note="without --shard_service no peer is known: namespace and cluster aggregates are never "
                         "written and API answers name every other shard as missing")
    peer_timeout = settings.shard_peer_timeout
    partials_wait = max(peer_timeout, settings.metric_resolution / 2)
    peers = Peers(index, count, watch, service)
    client = PeerClient(peer_timeout, peer_ssl_context(settings), peers.server_names)
    return ShardCoordinator(peers, aggregator_role(index, leadership), client, partials_wait,
                            historical_fingerprint(settings.historical_source))


def describe_batch(batch: DataBatch) -> dict[str, Any]:
    """Log fields naming a batch in the sink queue's lines."""
    return {"window": batch.timestamp.isoformat(), "metric_sets": len(batch)}


def _sink_queue(sink: MetricSink, store: QueueStore[DataBatch], bounds: SinkQueueBounds, settings: HeapsterSettings,
                clock: Clock, on_exported: Callable[[DataBatch], None] | None = None, *,
                in_process: bool = False) -> SinkQueue[DataBatch]:
    """The queue in front of one sink (the in-memory metric store always gets a queue in memory).

    The in-memory metric store (``in_process``) has no export timeout: its write in a worker thread always ends,
    and a timeout only made the retry write the batch a second time (its cold first write at 5000 nodes passed the
    20 s of ``--sink_export_data_timeout`` on a busy machine, in the window after the first).
    """
    return SinkQueue(sink.name, sink.export, start=sink.start, close=sink.close, capacity=bounds.size,
                     max_bytes=bounds.max_bytes if store.durable else None, max_age=bounds.max_age,
                     export_timeout=None if in_process else settings.sink_export_data_timeout, clock=clock,
                     store=store,
                     describe=describe_batch, on_exported=on_exported)


def _trim_once_stored(batch: DataBatch) -> None:
    """After the metric store wrote a batch: give the heap back once the queue has let go of the batch too.

    The scheduler trims after processing, but the store writes the batch later, in its queue's task; the
    trim is one event-loop step later, when the queue no longer holds the batch (bench/memory_breakdown.py:
    60 MiB of RSS at 1000 nodes). Young garbage is collected at the next quiet moment (:data:`MANAGED_GC`).
    """
    asyncio.get_running_loop().call_soon(release_free_memory)
    MANAGED_GC.batch_stored()


def _clock_time(epoch: float) -> str:
    """A wall-clock instant for progress messages, e.g. ``22:10:20Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%SZ")


def _create_store(settings: HeapsterSettings) -> MetricSink | None:
    """The in-memory metric store behind the Model and metrics APIs (None if not installed)."""
    try:
        from heapster.store import create_metric_store
    except ImportError:
        return None
    store: MetricSink = create_metric_store(settings)
    return store
