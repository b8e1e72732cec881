"""The whole plugin API of heapster on one page.

Plugins are modules named by entry points of group ``heapster``. Each implements some of the
registration hooks below with ``@heapster.hookimpl`` and, when called, registers factories by
the key users type on the command line (``--sink=influxdb:...`` -> key ``influxdb``).

Hooks run once, at start-up, in no particular order. They must be cheap: import heavy client
libraries inside the factories, not at module level. After loading, unknown hook names fail
(``check_pending``), so a misspelled hook is an error at start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import pluggy

from heapster.interfaces import (
    CheckpointStore,
    EventSink,
    EventSource,
    LeaderElector,
    LeaseSettings,
    MetricSink,
    MetricSource,
    Option,
    PluginContext,
    Processor,
)
from heapster.uri import PluginConfig

if TYPE_CHECKING:  # shards are heapster's alone: the eventer does not load them
    from heapster.shards.discovery import EndpointSliceWatch, PeerService

PROJECT = "heapster"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

MetricSourceFactory = Callable[[PluginConfig, PluginContext], MetricSource]
MetricSinkFactory = Callable[[PluginConfig, PluginContext], MetricSink]
EventSourceFactory = Callable[[PluginConfig, PluginContext], EventSource]
EventSinkFactory = Callable[[PluginConfig, PluginContext], EventSink]
ProcessorFactory = Callable[[PluginContext], "Processor | None"]
CheckpointStoreFactory = Callable[[str, PluginConfig, PluginContext], CheckpointStore]
"""``factory(location, source_config, context)``: ``location`` is what the user gave (``namespace/name``
for a ConfigMap), ``source_config`` the eventer's parsed ``--source`` (so a store can reach the same
cluster with the same credentials)."""
LeaderElectorFactory = Callable[[PluginConfig, LeaseSettings, PluginContext], LeaderElector]
PeerDiscoveryFactory = Callable[[PluginConfig, "PeerService", PluginContext], "EndpointSliceWatch"]


class RegisterMetricSource(Protocol):
    """The ``register`` callback of :func:`register_metric_sources`."""

    def __call__(self, key: str, factory: MetricSourceFactory, *, options: Sequence[Option] = (),
                 description: str = "") -> None: ...


class RegisterMetricSink(Protocol):
    """The ``register`` callback of :func:`register_metric_sinks`.

    ``historical=True`` declares that the sinks this factory returns implement
    :class:`heapster.interfaces.HistoricalSource` (they can serve ``--historical_source``).
    """

    def __call__(self, key: str, factory: MetricSinkFactory, *, options: Sequence[Option] = (),
                 description: str = "", historical: bool = False) -> None: ...


class RegisterEventSource(Protocol):
    """The ``register`` callback of :func:`register_event_sources`."""

    def __call__(self, key: str, factory: EventSourceFactory, *, options: Sequence[Option] = (),
                 description: str = "") -> None: ...


class RegisterEventSink(Protocol):
    """The ``register`` callback of :func:`register_event_sinks`."""

    def __call__(self, key: str, factory: EventSinkFactory, *, options: Sequence[Option] = (),
                 description: str = "") -> None: ...


class RegisterCheckpointStore(Protocol):
    """The ``register`` callback of :func:`register_checkpoint_stores`."""

    def __call__(self, key: str, factory: CheckpointStoreFactory, *, description: str = "") -> None: ...


class RegisterProcessor(Protocol):
    """The ``register`` callback of :func:`register_processors`."""

    def __call__(self, key: str, factory: ProcessorFactory, *, order: int, description: str = "") -> None: ...


class RegisterLeaderElector(Protocol):
    """The ``register`` callback of :func:`register_leader_electors`."""

    def __call__(self, key: str, factory: LeaderElectorFactory, *, description: str = "") -> None: ...


class RegisterPeerDiscovery(Protocol):
    """The ``register`` callback of :func:`register_peer_discoveries`."""

    def __call__(self, key: str, factory: PeerDiscoveryFactory, *, description: str = "") -> None: ...


# --- metrics pipeline -------------------------------------------------------------------------

@hookspec
def register_metric_sources(register: RegisterMetricSource) -> None:
    """Register metric source factories.

    Called once at start-up. Call ``register(key, factory, options=[Option(...)])`` for each
    source key this plugin provides (e.g. ``kubernetes``). ``factory(config, context)`` is
    called only when ``--source=<key>:...`` names it and returns a :class:`MetricSource`.
    ``options`` declares the URI options, each typed by an :class:`~heapster.interfaces.OptionKind`
    (``Option("timeout", OptionKind.DURATION, 10.0, "help")``, both from :mod:`heapster.interfaces`);
    ``config.options`` holds them typed. Undeclared options and ill-typed values are rejected with exit 2.
    Returns nothing.
    """


@hookspec
def register_metric_sinks(register: RegisterMetricSink) -> None:
    """Register metric sink factories.

    Called once at start-up. Call ``register(key, factory, options=[...])`` for each sink key
    (e.g. ``influxdb``); ``factory(config, context)`` returns a :class:`MetricSink` and is
    called only when ``--sink=<key>:...`` names it. Pass ``historical=True`` when the sink also
    implements :class:`~heapster.interfaces.HistoricalSource`. Returns nothing.
    """


@hookspec
def register_processors(register: RegisterProcessor) -> None:
    """Register batch processors.

    Called once at start-up. Call ``register(name, factory, order=N)``; processors run in
    ascending ``order`` (Heapster's chain uses 100, 200, ... 800, so a plugin can slot in
    between). ``factory(context)`` returns a :class:`Processor`, or ``None`` when it does not
    apply (e.g. an enricher without cluster state). Returns nothing.
    """


@hookspec
def register_peer_discoveries(register: RegisterPeerDiscovery) -> None:
    """Register how shards find their peers (``--shard`` with ``--shard_service``), by source key.

    Called once at start-up. ``register(key, factory)``: with ``--source=<key>:...``,
    ``factory(config, service, context)`` gets that source's parsed URI (same cluster, same
    credentials) and the :class:`~heapster.shards.discovery.PeerService`, and returns an
    :class:`~heapster.shards.discovery.EndpointSliceWatch`. Returns nothing.
    """


# --- eventer --------------------------------------------------------------------------------------

@hookspec
def register_event_sources(register: RegisterEventSource) -> None:
    """Register event source factories for the eventer.

    Called once at start-up. Call ``register(key, factory, options=[...])`` for each source key
    (e.g. ``kubernetes``); ``factory(config, context)`` is called only when the eventer's
    ``--source=<key>:...`` names it and returns an :class:`~heapster.interfaces.EventSource`
    (also a :class:`~heapster.interfaces.ResumableEventSource` for exactly-once export across
    restarts). Returns nothing.
    """


@hookspec
def register_event_sinks(register: RegisterEventSink) -> None:
    """Register event sink factories for the eventer.

    Called once at start-up. Call ``register(key, factory, options=[...])``; ``factory(config,
    context)`` returns an :class:`~heapster.interfaces.EventSink` and is called only when the
    eventer's ``--sink=<key>:...`` names it. Returns nothing.
    """


@hookspec
def register_checkpoint_stores(register: RegisterCheckpointStore) -> None:
    """Register places the eventer can keep its checkpoint in (besides core's file and memory stores).

    Called once at start-up. Call ``register(key, factory)``; ``factory(location, source_config,
    context)`` returns a :class:`~heapster.interfaces.CheckpointStore` and is called only when the
    eventer is asked for that key (``--checkpoint-configmap=ns/name`` asks for ``configmap``).
    Returns nothing.
    """


# --- leader election (heapster and the eventer) ----------------------------------------------------

@hookspec
def register_leader_electors(register: RegisterLeaderElector) -> None:
    """Register leader electors for ``--leader-elect``, by the key of the source whose API they use.

    Called once at start-up. ``register(key, factory)``: with ``--leader-elect`` and
    ``--source=<key>:...``, ``factory(config, lease, context)`` gets that source's parsed URI (so
    the elector reaches the same cluster with the same credentials) and a :class:`LeaseSettings`,
    and returns a :class:`LeaderElector`. Returns nothing.
    """
