"""The objects the scheduler drives: sources, scrape units, processors, sinks, and their context.

Pluggy only finds the factories; everything on the hot path is a plain ``async`` method here.
A plugin's URI options are declared with :class:`Option` and typed by an :class:`OptionKind`; a factory
receives them parsed in a :class:`PluginConfig`. The batch's column API (:class:`heapster.columns.ColumnBatch`,
:class:`heapster.columns.BatchBuilder`) is importable from here too; it is loaded on first use, so that a process
without metrics (the eventer) never imports numpy.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from heapster.model import DataBatch, EventBatch, MetricSet
from heapster.options import Option as Option  # noqa: PLC0414 (re-exported for plugins)
from heapster.options import OptionKind as OptionKind  # noqa: PLC0414
from heapster.settings import HeapsterSettings
from heapster.uri import PluginConfig as PluginConfig  # noqa: PLC0414

if TYPE_CHECKING:
    from heapster.checkpoint import Checkpoint

    # the column API, re-exported (see __getattr__)
    from heapster.columns import BatchBuilder as BatchBuilder  # noqa: PLC0414
    from heapster.columns import ColumnBatch as ColumnBatch  # noqa: PLC0414

_COLUMN_API = ("BatchBuilder", "ColumnBatch")


def __getattr__(name: str) -> Any:
    """``from heapster.interfaces import ColumnBatch, BatchBuilder``: the column API, imported on first use."""
    if name in _COLUMN_API:
        from heapster import columns

        return getattr(columns, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Clock(Protocol):
    """Wall-clock time and sleeping; tests swap in ``heapster.testing.FakeClock``."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep for ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        """``time.time()``."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep`` (a negative time sleeps 0)."""
        await asyncio.sleep(max(0.0, seconds))


@runtime_checkable
class ClusterState(Protocol):
    """Read access to the cluster's nodes, pods and namespaces, kept current by list+watch.

    Objects are the API server's JSON decoded to dicts. Provided by the Kubernetes source
    and shared with the enrichers and the metrics API.
    """

    def get_node(self, name: str) -> dict[str, Any] | None:
        """The Node called ``name``, or None when the cluster has none (yet)."""
        ...

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Pod ``namespace/name``, or None."""
        ...

    def get_namespace(self, name: str) -> dict[str, Any] | None:
        """The Namespace called ``name``, or None."""
        ...

    def list_nodes(self) -> Sequence[dict[str, Any]]:
        """Every Node known now."""
        ...

    def list_pods(self, namespace: str | None = None) -> Sequence[dict[str, Any]]:
        """Every Pod known now, or those of one namespace."""
        ...


@dataclass
class PluginContext:
    """What factories get besides their URI: the daemon's settings, clock and cluster state.

    ``settings`` is heapster's parsed command line, typed (:class:`heapster.settings.HeapsterSettings`:
    ``settings.metric_resolution``, ``settings.label_separator``, ...; a mapping given here is
    converted, for tests); the eventer's plugins see the defaults. ``cluster`` is set once a
    source that knows the cluster (the Kubernetes source) has been built.
    """

    settings: HeapsterSettings = field(default_factory=HeapsterSettings)
    clock: Clock = field(default_factory=SystemClock)
    cluster: ClusterState | None = None

    def __post_init__(self) -> None:
        self.settings = HeapsterSettings.of(self.settings)


class ScrapeUnit(ABC):
    """One thing to scrape in a window, normally one node's kubelet."""

    name: str = "unit"
    """Shown in logs and self-metrics, e.g. ``kubelet_summary:10.0.0.1:10250``."""

    node: str = ""
    """The node this unit reads, for per-node self-metrics ("" when not node-bound)."""

    timed: bool = True
    """Whether its scrape duration is recorded under ``source=<name>`` (Heapster's per-kubelet series);
    False for a placeholder that contacts nothing, as Heapster had no source for such a node."""

    @abstractmethod
    async def scrape(self, start: datetime, end: datetime) -> ColumnBatch | dict[str, MetricSet]:
        """Return what was read for the window ``[start, end)``, keyed as HEAPSTER.md §3.1.

        Either columns (:class:`heapster.columns.ColumnBatch`, built with
        :class:`heapster.columns.BatchBuilder`: the fast path; ``builder.lazy()`` lets the scheduler build
        every unit's part at once) or Heapster's shape, key -> MetricSet.
        """


class MetricSource(ABC):
    """A metrics source: lists the scrape units of each window."""

    name: str = "source"

    async def start(self) -> None:
        """Connect and warm caches; called once before the first window."""

    @abstractmethod
    async def scrape_units(self) -> Sequence[ScrapeUnit]:
        """The units to scrape in the coming window, one per node."""

    @property
    def cluster(self) -> ClusterState | None:
        """The cluster state this source keeps, if any, for enrichers and the metrics API.

        Read before :meth:`start` (the HTTP API is served while the source starts): return the
        object that ``start`` fills, not None until then.
        """
        return None

    async def close(self) -> None:
        """Release connections; called once at shutdown."""


class Processor(ABC):
    """A step of the processing chain, run on every batch in order."""

    name: str = "processor"

    @abstractmethod
    async def process(self, batch: DataBatch) -> DataBatch:
        """Return the processed batch (usually the same object, changed in place)."""

    def primed(self) -> None:
        """Called once after the priming batch: the daemon scrapes and processes every node once before its first
        window (warm connections and caches) and exports nothing of it. Forget what that batch would add to the
        first exported one (the rate calculator forgets its previous samples, so the first batch has no rates, as
        Go Heapster's first batch has none); keep caches. The default keeps everything."""

    def followed_by(self, processor: Processor) -> None:
        """Told once, when the chain is built, which processor runs right after this one (the last one is told
        nothing). A processor may then do part of the next one's work in the same step, as long as the batch the
        next one gives is the same; the default does nothing."""


class ColumnProcessor(Processor):
    """A processor that changes the batch's columns in place with plain (synchronous) code.

    The scheduler runs :meth:`apply` in a worker thread, so a long array operation over a big
    batch never holds up the HTTP API on the event loop. ``apply`` may read the cluster state
    (point look-ups) but must not touch the event loop.

    Label dicts (``columns.labels[row]``, ``columns.series_labels[s]``) are shared between rows and
    batches and read-only: to change a row's labels, put a new dict in its place
    (``cols.labels[row] = {**cols.labels[row], "name": value}``), never update the dict itself. A
    processor that gives the same row the same dict object batch after batch (one enriched twin per
    input dict, as the pod and namespace enrichers keep) lets the store see the entity as unchanged
    without hashing its labels.
    """

    @abstractmethod
    def apply(self, batch: DataBatch) -> None:
        """Process ``batch`` in place."""

    async def process(self, batch: DataBatch) -> DataBatch:
        """:meth:`apply` (the scheduler calls ``apply`` itself, in a worker thread)."""
        self.apply(batch)
        return batch


class MetricSink(ABC):
    """A destination for metric batches.

    ``export`` raises :class:`heapster.errors.RetryableError` for a failure worth retrying
    and :class:`heapster.errors.PermanentError` for one that is not; the core's sink queue
    does the retrying, backoff and dropping.
    """

    name: str = "sink"

    async def start(self) -> None:
        """Connect (may raise RetryableError: the queue retries it before the first export)."""

    @abstractmethod
    async def export(self, batch: DataBatch) -> None:
        """Write one batch."""

    async def close(self) -> None:
        """Flush and release connections; called once after the last export."""


class EventSource(ABC):
    """A source of Kubernetes events for the eventer (``--source=<key>:...`` of ``eventer``).

    The eventer calls :meth:`start` once per leadership term, then :meth:`get_new_events` every
    ``--frequency`` and :meth:`close` at the end of the term. Events are the API server's JSON
    decoded to dicts (core/v1 ``Event`` shape). A source that can resume after a restart without
    losing or repeating events also implements :class:`ResumableEventSource`.
    """

    name: str = "event source"

    async def start(self) -> None:
        """Begin listing and watching."""

    @abstractmethod
    async def get_new_events(self) -> EventBatch:
        """Drain the events received since the last call into one batch."""

    async def close(self) -> None:
        """Stop watching."""


@runtime_checkable
class ResumableEventSource(Protocol):
    """What an event source offers beyond :class:`EventSource` so the eventer can checkpoint it.

    ``position`` is the resourceVersion up to which every event has been returned by
    ``get_new_events``; ``resume_from`` (called before ``start``) makes the source continue
    right after a checkpointed position instead of starting afresh (``None``: start afresh).
    The eventer stores ``position`` per sink in the checkpoint once the sink has the batch.
    """

    @property
    def position(self) -> str | None:
        """The resourceVersion every event up to which has been handed out; ``None`` before any."""
        ...

    def resume_from(self, position: str | None) -> None:
        """Continue right after ``position`` (call before :meth:`EventSource.start`)."""
        ...


@runtime_checkable
class GapCountingSource(Protocol):
    """A source that counts the event versions a ``410 Gone`` gap lost, from a memory of recent counts.

    The eventer keeps that memory (an opaque JSON-able dict) in the checkpoint, so a restart past the
    API's watch history still counts what the gap lost.
    """

    lost_events: int
    """Event versions lost in gaps so far (the eventer counts the increase in self-metrics)."""

    def gap_memory(self) -> dict[str, Any]:
        """The memory to keep in the checkpoint (as of the last ``get_new_events``)."""
        ...

    def restore_gap_memory(self, document: dict[str, Any]) -> None:
        """Load what :meth:`gap_memory` returned in an earlier process (call before ``start``)."""
        ...


@runtime_checkable
class GapMemoryOnDemand(Protocol):
    """A :class:`GapCountingSource` that keeps its memory for :meth:`~GapCountingSource.gap_memory` only when asked.

    The eventer calls :meth:`keep_gap_memory` before ``start``: ``False`` when it keeps no checkpoint (nothing
    will call ``gap_memory``), so the source need not copy its memory at every ``get_new_events``.
    """

    def keep_gap_memory(self, keep: bool) -> None:
        """Whether ``gap_memory`` will be asked for (sources keep it by default)."""
        ...


class CheckpointStore(Protocol):
    """Where the eventer keeps its :class:`heapster.checkpoint.Checkpoint` between runs.

    Core has a memory and a file store (:mod:`heapster.checkpoint`); plugins add more through the
    ``register_checkpoint_stores`` hook (heapster-source-kubernetes: a ConfigMap). ``save`` replaces
    the checkpoint atomically and raises :class:`heapster.errors.CheckpointConflict` when another
    writer changed it since this store last read or wrote it (fencing a replica that lost its
    leadership); other failures raise any exception and are retried at the next save.
    """

    description: str
    """Where it is, for logs: ``file /var/lib/eventer/checkpoint.json``, ``configmap ns/name``."""

    async def load(self) -> Checkpoint | None:
        """The saved checkpoint, or ``None`` if there is none yet."""
        ...

    async def save(self, checkpoint: Checkpoint) -> None:
        """Replace the saved checkpoint (atomically)."""
        ...


class EventSink(ABC):
    """A destination for event batches (``--sink=<key>:...`` of ``eventer``); errors as for :class:`MetricSink`.

    Each sink has its own queue in the eventer: ``export_events`` is retried with backoff on
    :class:`heapster.errors.RetryableError`, the batch is dropped on
    :class:`heapster.errors.PermanentError`, and once it returns the sink's checkpoint position moves.
    """

    name: str = "event sink"

    async def start(self) -> None:
        """Connect (may raise RetryableError: the queue retries it before the first export)."""

    @abstractmethod
    async def export_events(self, batch: EventBatch) -> None:
        """Write one batch of events."""

    async def close(self) -> None:
        """Flush and release connections."""


@runtime_checkable
class HistoricalSource(Protocol):
    """A metric sink that can answer ``/api/v1/historical/...`` (HEAPSTER.md §6.5) from its own store.

    A sink plugin announces it with ``register(key, factory, historical=True)`` in its
    ``register_metric_sinks`` hook, and the sink its factory returns implements this protocol.
    The HTTP API mounts the returned aiohttp application under ``/api/v1/historical`` when
    ``--historical_source`` names this sink's URI.
    """

    def historical_app(self) -> Any:
        """An ``aiohttp.web.Application`` serving the historical routes."""
        ...


# --- leader election ------------------------------------------------------------------------------

@dataclass(frozen=True)
class LeaseSettings:
    """Which Lease to hold and how: the ``--leader-elect-*`` flags (client-go's defaults)."""

    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


@runtime_checkable
class LeaderElector(Protocol):
    """Active/standby replicas on one Lease; provided by a plugin (``register_leader_electors``).

    ``await acquire()`` returns once this replica leads; ``await hold()`` renews and returns once
    the Lease could not be renewed within the renew deadline (shorter than the lease duration the
    others wait, so a leader stops before anyone may start); ``release()`` hands over at once.
    The Lease's annotations carry what a leader hands to the next: ``annotations`` as last read,
    ``annotate`` to write with the next renewal (or release).
    """

    identity: str
    holder: str | None
    """The holder seen at the last attempt."""
    last_attempt: float | None
    """Clock time of the last acquire/renew attempt (for health checks)."""

    @property
    def leading(self) -> bool:
        """Whether this replica may act as leader right now."""
        ...

    @property
    def annotations(self) -> Mapping[str, str]:
        """The Lease's annotations as read at the last attempt."""
        ...

    def annotate(self, values: Mapping[str, str]) -> None:
        """Set annotations written with the next renewal, which happens soon."""
        ...

    async def acquire(self) -> None:
        """Return once this replica holds the Lease."""
        ...

    async def hold(self) -> None:
        """Renew every retry period; return when leadership is lost."""
        ...

    async def release(self) -> None:
        """Give the Lease up (with the annotations set) so a standby takes over at once."""
        ...
