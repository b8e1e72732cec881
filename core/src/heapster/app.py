"""Assembling and running the heapster daemon from parsed settings."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from heapster.batchcodec import DATA_BATCH_CODEC
from heapster.errors import RuntimeFailure, UsageError
from heapster.flags import MEMORY_QUEUE_SIZE, SinkQueueBounds, sink_queue_bounds
from heapster.interfaces import Clock, MetricSink, MetricSource, PluginContext, Processor, SystemClock
from heapster.memory import shrink_tls_read_buffers, tune_gc
from heapster.model import DataBatch
from heapster.plugins import Plugins, load_plugins
from heapster.queuestore import MemoryStore, QueueStore, open_store
from heapster.scheduler import Scheduler, SchedulerSettings
from heapster.sinkqueue import SinkQueue
from heapster.uri import mask_uri, unique_idents, without_queue_options

log = structlog.get_logger("heapster.app")


def scheduler_settings(settings: dict[str, Any]) -> SchedulerSettings:
    """Pipeline timing from flags: the scrape deadline never exceeds the window."""
    resolution = float(settings["metric_resolution"])
    deadline = min(20.0, resolution)
    shard_index, shard_count = settings.get("shard", (0, 1))
    return SchedulerSettings(
        resolution=resolution,
        scrape_deadline=deadline,
        node_timeout=min(float(settings["kubelet_timeout"]), deadline),
        shard_index=shard_index,
        shard_count=shard_count,
    )


@dataclass
class Daemon:
    """The assembled pipeline: source, processors, sink queues, scheduler and the optional HTTP API."""

    settings: dict[str, Any]
    source: MetricSource
    processors: list[Processor]
    sinks: list[MetricSink]
    queues: list[SinkQueue[DataBatch]]
    scheduler: Scheduler
    store: Any = None
    historical: Any = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Run until SIGTERM/SIGINT (or ``stop``), then flush the sinks within the shutdown timeout."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not in the main thread
                loop.add_signal_handler(sig, self.stop.set)
        try:
            api_runner = await self._start_api()
        except OSError as exc:
            await self.source.close()
            host = self.settings["listen_ip"] or "0.0.0.0"
            msg = f"cannot serve the HTTP API on {host}:{self.settings['heapster_port']}: {exc.strerror or exc}"
            raise RuntimeFailure(msg) from None
        for queue in self.queues:
            queue.start()  # connects the sink and replays what a queue on disk kept from the last run
        tune_gc()
        shrink_tls_read_buffers()
        first_batch_in = self._first_batch_in()
        log.info("heapster.running", resolution=self.settings["metric_resolution"],
                 first_batch_in=round(first_batch_in, 1))
        first_at = self.scheduler.clock.now() + first_batch_in
        log.info("scrape.waiting", waiting_for="the first scrape",
                 window_end=_clock_time(first_at - self.scheduler.settings.scrape_offset),
                 first_batch_at=_clock_time(first_at))
        try:
            await self.scheduler.run(self.stop)
        finally:
            log.info("heapster.stopping", flush_timeout=self.settings["shutdown_timeout"])
            await asyncio.gather(*(q.close(self.settings["shutdown_timeout"]) for q in self.queues))
            await self.source.close()
            if api_runner is not None:
                await api_runner.cleanup()
            log.info("heapster.stopped")

    def _first_batch_in(self) -> float:
        s = self.scheduler
        now = s.clock.now()
        _, end = s.next_window(now)
        return end + s.settings.scrape_offset - now

    async def _start_api(self) -> Any:
        # Served also with --disable_metric_sink, as Heapster did: /healthz and /metrics stay useful.
        from heapster.api import create_api_app, start_api_server

        app = create_api_app(self.store, self.source.cluster, self.settings, historical=self.historical)
        runner = await start_api_server(app, self.settings)
        scheme = "https" if self.settings["tls_cert"] else "http"
        host = self.settings["listen_ip"] or "0.0.0.0"
        local = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        bound = [a for a in runner.addresses if isinstance(a, tuple)]
        port = bound[0][1] if bound else self.settings["heapster_port"]  # the real port when given 0
        log.info("api.listening", url=f"{scheme}://{host}:{port}",
                 dashboard=f"{scheme}://{local}:{port}/" if self.store is not None else None)
        return runner


async def build_daemon(settings: dict[str, Any], plugins: Plugins | None = None,
                       clock: Clock | None = None) -> Daemon:
    """Build every part named by the flags; usage mistakes raise UsageError before anything starts."""
    plugins = plugins or load_plugins(strict=bool(settings.get("strict_plugins")))
    context = PluginContext(settings=settings, clock=clock or SystemClock())
    source_spec = settings["source"][0]
    # Configure the source and every sink before logging or connecting anything, so a bad URI
    # fails fast with one line and exit 2.
    source_reg, source_config = plugins.configure("source", source_spec)
    sink_configs = [(spec, *plugins.configure("sink", spec)) for spec in settings["sink"]]
    sink_queue_bounds(settings, MEMORY_QUEUE_SIZE)  # checks the flags even without a --sink
    sink_bounds = [sink_queue_bounds(settings, MEMORY_QUEUE_SIZE, config.queue) for _, _, config in sink_configs]
    # The queue file is named after the sink without its queue options, so retuning the queue keeps it.
    masked = unique_idents([mask_uri(without_queue_options(spec), reg.secret_options) for spec, reg, _ in sink_configs],
                           str)
    # Opened before connecting anything: a queue file another heapster holds fails at once.
    stores = [open_store(b.directory, "metrics", ident, DATA_BATCH_CODEC) for b, ident in zip(sink_bounds, masked,
                                                                                             strict=True)]
    source: MetricSource = source_reg.factory(source_config, context)
    # Logged once the flags are known to be good, so a usage error stays a single line.
    log.info("plugins.loaded", distributions=sorted({f"{p.distribution} {p.version}" for p in plugins.plugins}),
             failed=[f.distribution for f in plugins.failures] or None)
    log.info("source.starting", source=mask_uri(source_spec))
    await source.start()
    context.cluster = source.cluster
    sinks: list[MetricSink] = []
    sink_queues: dict[int, tuple[QueueStore[DataBatch], SinkQueueBounds]] = {}
    historical: Any = None
    for store_of_sink, bounds_of_sink, (spec, reg, config) in zip(stores, sink_bounds, sink_configs, strict=True):
        try:
            sink = reg.factory(config, context)
        except UsageError:
            raise
        except Exception as exc:
            log.error("sink.create.failed", sink=mask_uri(spec, reg.secret_options), error=str(exc))
            store_of_sink.close()
            continue
        sinks.append(sink)
        sink_queues[id(sink)] = (store_of_sink, bounds_of_sink)
        if settings.get("historical_source") == spec:
            historical = sink
        log.info("sink.created", sink=mask_uri(spec, reg.secret_options), name=sink.name)
    if settings["sink"] and not sinks:
        msg = "no available sink to use: every --sink failed to start"
        raise RuntimeFailure(msg)
    if settings.get("historical_source") and not hasattr(historical, "historical_app"):
        msg = "failed to use a sink as a historical metrics source: only influxdb supports it"
        raise UsageError(msg)
    store = None
    if not settings.get("disable_metric_sink"):
        store = _create_store(settings)
        if store is not None:
            sinks.append(store)
    processors = plugins.build_processors(context)
    log.info("pipeline.built", processors=[p.name for p in processors], sinks=[s.name for s in sinks])
    in_memory = SinkQueueBounds("", settings.get("sink_queue_size") or MEMORY_QUEUE_SIZE, None,
                                settings.get("sink_queue_max_age"))  # the metric store's queue
    queues = []
    for sink in sinks:
        store_of_sink, bounds_of_sink = sink_queues.get(id(sink), (MemoryStore(), in_memory))
        queues.append(_sink_queue(sink, store_of_sink, bounds_of_sink, settings, context.clock))
    scheduler = Scheduler(source, processors, queues, scheduler_settings(settings), clock=context.clock)
    return Daemon(settings, source, processors, sinks, queues, scheduler, store=store, historical=historical)


def describe_batch(batch: DataBatch) -> dict[str, Any]:
    """Log fields naming a batch in the sink queue's lines."""
    return {"window": batch.timestamp.isoformat(), "metric_sets": len(batch.metric_sets)}


def _sink_queue(sink: MetricSink, store: QueueStore[DataBatch], bounds: SinkQueueBounds, settings: dict[str, Any],
                clock: Clock) -> SinkQueue[DataBatch]:
    """The queue in front of one sink (the in-memory metric store always gets a queue in memory)."""
    return SinkQueue(sink.name, sink.export, start=sink.start, close=sink.close, capacity=bounds.size,
                     max_bytes=bounds.max_bytes if store.durable else None, max_age=bounds.max_age,
                     export_timeout=settings["sink_export_data_timeout"], clock=clock, store=store,
                     describe=describe_batch)


def _clock_time(epoch: float) -> str:
    """A wall-clock instant for progress messages, e.g. ``22:10:20Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%SZ")


def _create_store(settings: dict[str, Any]) -> MetricSink | None:
    """The in-memory metric store behind the Model and metrics APIs (None if not installed)."""
    try:
        from heapster.store import create_metric_store
    except ImportError:
        return None
    store: MetricSink = create_metric_store(settings)
    return store
