"""The eventer daemon: build source and sinks, elect a leader, run export terms, serve health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
from dataclasses import dataclass

import structlog

from heapster.api.health import MAX_BATCH_AGE, serve_health
from heapster.checkpoint import FileCheckpointStore, MemoryCheckpointStore
from heapster.distributions import entry_points
from heapster.errors import RuntimeFailure, UsageError
from heapster.flags import SinkQueueBounds, sink_queue_bounds
from heapster.http1 import Server
from heapster.interfaces import (
    CheckpointStore,
    Clock,
    EventSink,
    EventSource,
    LeaderElector,
    PluginContext,
    SystemClock,
)
from heapster.leader import default_identity
from heapster.plugins import (
    CHECKPOINT_STORE,
    ENTRY_POINT_GROUP,
    EVENT_SINK,
    EVENT_SOURCE,
    LEADER_ELECTOR,
    Plugins,
    all_built_in,
    load_plugins,
)
from heapster.uri import PluginConfig, mask_uri, unique_idents, without_queue_options
from heapster_eventer import metrics
from heapster_eventer.flags import DEFAULT_SINK_QUEUE, EventerOptions
from heapster_eventer.manager import EventManager, ManagerSettings

log = structlog.get_logger("heapster_eventer")

CONFIGMAP_STORE = "configmap"
"""The checkpoint store key ``--checkpoint-configmap`` asks the plugins for (heapster-source-kubernetes)."""


@dataclass
class Built:
    """The plugins built from the flags."""

    source_config: PluginConfig
    source: EventSource
    sinks: list[tuple[str, EventSink]]
    queues: dict[str, SinkQueueBounds]
    """Each sink's queue bounds: the --sink-queue-* flags, or its URI's queue_* options."""


PLUGIN_ENVIRONMENT = ("HEAPSTER_PLUGINS", "HEAPSTER_STRICT_PLUGINS")
"""Set, the plugin loader's own rules decide: :func:`load_named_plugins` loads every plugin."""


def load_named_plugins(options: EventerOptions) -> Plugins:
    """The plugins whose entry points are named like the source's and the sinks' keys; every plugin if they fall short.

    Built-in plugins name their entry point after their key (``kubernetes``, ``log``, ``influxdb``), so an
    eventer with ``--source=kubernetes: --sink=log`` loads those two and not the metric sinks' modules (0.8 MiB
    of RSS it never uses). When those plugins do not register every key the flags need (a plugin whose entry
    point is named otherwise, a misspelt key, a plugin that fails to load), when a distribution other than the
    project's provides a plugin (it may claim a key twice: exit 2 naming both distributions, as on the full
    load), or when ``HEAPSTER_PLUGINS`` or ``HEAPSTER_STRICT_PLUGINS`` is set, every plugin is loaded as before,
    so choices and errors read the same.
    """
    if any(name in os.environ for name in PLUGIN_ENVIRONMENT):
        return load_plugins()
    source_key = options.source.partition(":")[0].strip()
    sink_keys = {spec.partition(":")[0].strip() for spec in options.sinks}
    needed = [(EVENT_SOURCE, source_key), *((EVENT_SINK, key) for key in sink_keys)]
    if options.checkpoint_configmap:
        needed.append((CHECKPOINT_STORE, CONFIGMAP_STORE))
    if options.leader_elect:
        needed.append((LEADER_ELECTOR, source_key))
    names = {key for _, key in needed}
    installed = entry_points(group=ENTRY_POINT_GROUP)
    if not all_built_in(installed):  # a third party may register a key a built-in does: only the full load sees it
        return load_plugins()
    plugins = load_plugins(eps=[ep for ep in installed if ep.name in names])
    if not plugins.failures and all(key in plugins.keys(kind) for kind, key in needed):
        return plugins
    return load_plugins()


class Eventer:
    """One eventer process."""

    def __init__(self, options: EventerOptions, *, plugins: Plugins | None = None, clock: Clock | None = None) -> None:
        self.options = options
        self.plugins = plugins
        self.clock = clock or SystemClock()
        self.identity = options.leader_elect_identity or default_identity()
        self.context = PluginContext(clock=self.clock)
        self.manager: EventManager | None = None
        self.elector: LeaderElector | None = None
        self.started_at = self.clock.now()
        self.stop_event = asyncio.Event()
        self.port: int | None = None

    # --- building ---------------------------------------------------------------------------------
    def build(self) -> Built:
        """Build the source and sinks; :class:`UsageError` for bad URIs, as Heapster fatal if no sink works."""
        plugins = self.plugins or load_named_plugins(self.options)
        self.plugins = plugins
        reg, source_config = plugins.configure(EVENT_SOURCE, self.options.source)
        source = reg.factory(source_config, self.context)
        # A sink's identity (checkpoint key, queue file) leaves out its queue options: retuning keeps both.
        idents = unique_idents(self.options.sinks, lambda spec: mask_uri(without_queue_options(spec)))
        sinks: list[tuple[str, EventSink]] = []
        queues: dict[str, SinkQueueBounds] = {}
        for ident, spec in zip(idents, self.options.sinks, strict=True):
            sink_reg, sink_config = plugins.configure(EVENT_SINK, spec)
            queues[ident] = sink_queue_bounds(self.options.sink_queue_flags, DEFAULT_SINK_QUEUE, sink_config.queue)
            try:
                sinks.append((ident, sink_reg.factory(sink_config, self.context)))
            except UsageError:
                raise
            except Exception as exc:  # Heapster: a sink that cannot be built is skipped
                log.error("eventer.sink.failed", sink=ident, error=str(exc))
        if self.options.sinks and not sinks:
            msg = "No available sink to use"
            raise RuntimeFailure(msg)
        return Built(source_config, source, sinks, queues)

    def checkpoint_store(self, source_config: PluginConfig) -> CheckpointStore:
        """Where the checkpoint lives: a file, a ConfigMap (from the plugin that provides ``configmap``), or memory."""
        if self.options.checkpoint_file:
            return FileCheckpointStore(self.options.checkpoint_file)
        if self.options.checkpoint_configmap:
            assert self.plugins is not None
            namespace, name = self.options.checkpoint_configmap
            return self.plugins.build_checkpoint_store(CONFIGMAP_STORE, f"{namespace}/{name}", source_config,
                                                       self.context)
        return MemoryCheckpointStore()

    def keeps_checkpoint(self, store: CheckpointStore) -> bool:
        """Whether a checkpoint is worth building: kept in a file or ConfigMap, or in memory for the next term of
        leadership. Without leader election there is one term and a checkpoint in memory is never read back."""
        return self.elector is not None or self.options.leader_elect or not isinstance(store, MemoryCheckpointStore)

    # --- health -------------------------------------------------------------------------------------
    def health_problem(self) -> str | None:
        """Healthy (None) while exporting on time, or while a standby keeps trying for the Lease."""
        now = self.clock.now()
        limit = max(MAX_BATCH_AGE, 2 * self.options.frequency)
        if self.manager is not None:
            last = self.manager.last_cycle or self.started_at
            if now - last > limit:
                return f"last export cycle {now - last:.0f}s ago"
            return None
        if self.elector is not None:
            last = self.elector.last_attempt or self.started_at
            if now - last > limit:
                return f"last lease attempt {now - last:.0f}s ago"
        return None

    def refresh_metrics(self) -> None:
        if self.manager is not None:
            self.manager.update_buffer_metrics()

    # --- running ------------------------------------------------------------------------------------
    async def run(self) -> int:
        """Run until SIGTERM/SIGINT (or :meth:`stop`); returns the exit status."""
        built = self.build()
        store = self.checkpoint_store(built.source_config)
        if self.options.leader_elect:
            assert self.plugins is not None
            lease = self.options.lease_timing.settings(self.options.leader_elect_lease, self.identity)
            self.elector = self.plugins.build_leader_elector(built.source_config, lease, self.context)
        assert self.plugins is not None  # set by build()
        self.plugins.warn_ignored(EVENT_SOURCE, built.source_config)  # the flags are good: no more usage error
        runner = await self.serve_health()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop_event.set)
        log.info("eventer.started", source=mask_uri(self.options.source), sinks=[i for i, _ in built.sinks],
                 frequency=self.options.frequency,
                 checkpoint=store.description if self.keeps_checkpoint(store) else "none", identity=self.identity,
                 leader_elect=self.options.leader_elect)
        gc.collect()
        gc.freeze()  # start-up objects out of the collector's sight: a full collection walks only what came after
        source: EventSource | None = built.source
        try:
            while not self.stop_event.is_set():
                if self.elector is not None and not await self._until_leader():
                    break
                if source is None:
                    source = self.build_source(built.source_config)
                await self._term(source, built.sinks, store, built.queues)
                source = None
        finally:
            for _, sink in built.sinks:
                try:
                    await sink.close()
                except Exception as exc:
                    log.warning("eventer.sink.close.failed", sink=sink.name, error=str(exc))
            await runner.cleanup()
        log.info("eventer.stopped")
        return 0

    async def serve_health(self) -> Server:
        """``/healthz``, ``/readyz``, ``/livez`` and ``/metrics`` on ``--healthz-ip``:``--healthz-port`` (core's
        handlers and light server: idle and first-request deadlines as heapster's, no aiohttp)."""
        host, port = self.options.healthz_ip, self.options.healthz_port
        try:
            runner = await serve_health(self.health_problem, self.refresh_metrics, host, port)
        except OSError as exc:
            msg = f"cannot serve /healthz on {host}:{port}: {exc.strerror or exc}"
            raise RuntimeFailure(msg) from None
        self.port = runner.addresses[0][1] if runner.addresses else port
        log.info("eventer.listening", host=host, port=self.port)
        return runner

    def build_source(self, config: PluginConfig) -> EventSource:
        assert self.plugins is not None
        reg = self.plugins.get(EVENT_SOURCE, config.key)
        source: EventSource = reg.factory(config, self.context)
        return source

    def stop(self) -> None:
        """Ask the eventer to finish its term, flush, checkpoint and exit."""
        self.stop_event.set()

    async def _until_leader(self) -> bool:
        """Wait for the Lease; ``False`` if asked to stop first."""
        assert self.elector is not None
        metrics.leader.set(0)
        acquiring = asyncio.ensure_future(self.elector.acquire())
        stopping = asyncio.ensure_future(self.stop_event.wait())
        await asyncio.wait([acquiring, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not acquiring.done():
            acquiring.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acquiring
            return False
        acquiring.result()
        return True

    async def _term(self, source: EventSource, sinks: list[tuple[str, EventSink]], store: CheckpointStore,
                    queues: dict[str, SinkQueueBounds] | None = None) -> None:
        """One period of leadership (the whole run without leader election)."""
        settings = ManagerSettings(frequency=self.options.frequency, stop_timeout=self.options.stop_timeout,
                                   sink_queue_size=self.options.sink_queue_size, dedup_size=self.options.dedup_size,
                                   identity=self.identity, queue_dir=self.options.sink_queue_dir,
                                   queue_max_bytes=self.options.sink_queue_max_bytes,
                                   queue_max_age=self.options.sink_queue_max_age, queues=queues or {},
                                   checkpoint=self.keeps_checkpoint(store))
        manager = EventManager(source, sinks, store=store, settings=settings, clock=self.clock)
        self.manager = manager
        metrics.leader.set(1)
        lost = False
        holding: asyncio.Future[None] | None = None
        try:
            await manager.start()
            running = asyncio.ensure_future(manager.run(self.stop_event))
            if self.elector is not None:
                holding = asyncio.ensure_future(self.elector.hold())
            await asyncio.wait([t for t in (running, holding) if t is not None], return_when=asyncio.FIRST_COMPLETED)
            lost = not self.stop_event.is_set()
            await _end(running)
            if lost and holding is not None:
                await _end(holding)
        finally:
            if lost:
                log.warning("eventer.term.lost", identity=self.identity, fenced=manager.fenced.is_set())
            try:
                # On a clean stop the lease is still renewed while the final flush runs: a standby taking
                # over during a flush longer than the lease would resume from the checkpoint before it and
                # export the flushed events again.
                await manager.stop(flush=not lost)
            finally:
                if holding is not None and not lost:
                    await _end(holding)
                if self.elector is not None:
                    await self.elector.release()
                metrics.leader.set(0)
                self.manager = None


async def _end(task: asyncio.Future[None]) -> None:
    """Cancel ``task`` and wait for it; an error it ended with is logged."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if task.done() and not task.cancelled() and task.exception() is not None:
        log.error("eventer.term.failed", error=str(task.exception()))
