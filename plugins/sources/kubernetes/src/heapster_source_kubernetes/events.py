"""The ``kubernetes`` event source: list+watch of Events into a bounded buffer, resumable from a position.

Built on :class:`heapster_source_kubernetes.watch.Informer` (paging, bookmarks, 410 relist,
backoff). What it adds for the eventer:

* ``resume_from(rv)`` starts with a watch from a checkpointed resourceVersion, so every change
  after it (each MODIFIED count bump too) arrives; only if that position has expired (410)
  does it relist.
* A relist after ``410 Gone`` hands out only the events whose resourceVersion is above the
  position the watch had reached (every version up to it was handed out already), whatever order
  the list comes in; repeats beyond that (a relist cut short, a kill before the checkpoint moved)
  are the eventer's de-duplication's to drop.
* Gap accounting (:mod:`.occurrences`): the source remembers the last count of recent events, so
  after a relist it can tell how many versions of an event the API no longer holds
  (``lost_events``, logged as ``events.gap`` with the resourceVersions of the gap).
* ``export_existing``: events of the very first list are exported too (otherwise only changes).
* A bounded buffer (``buffer_size``) that drops and counts events when full, as Heapster did; it
  holds events as compact JSON in one deflate stream (:class:`EventBuffer`, ~80 bytes an event).
* ``events_api=events.k8s.io/v1``: that API is watched and each event converted to the core/v1
  shape, so sinks always see one shape.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from heapster.interfaces import Clock, EventSource, PluginContext, SystemClock
from heapster.model import Event, EventBatch
from heapster.timefmt import utc_from_epoch
from heapster.uri import PluginConfig
from heapster_source_kubernetes.config import ApiAccess
from heapster_source_kubernetes.occurrences import OccurrenceMemory
from heapster_source_kubernetes.watch import ADDED, DELETED, Gone, Informer, WatchEvent

log = structlog.get_logger(__name__)

CORE_V1 = "core/v1"
EVENTS_V1 = "events.k8s.io/v1"
PATHS = {CORE_V1: "/api/v1/events", EVENTS_V1: "/apis/events.k8s.io/v1/events"}


def rv_number(resource_version: Any) -> int | None:
    """A resourceVersion as an integer, when it is one (etcd revisions are)."""
    try:
        return int(resource_version)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Relist:
    """What a relist after ``410 Gone`` found.

    ``since`` is the position the watch had reached (every version up to it was handed out),
    ``listed_at`` the list's resourceVersion, ``oldest_new`` the oldest resourceVersion above
    ``since`` that the list returned (nothing between ``since`` and it is held any more),
    ``new`` how many events it handed out and ``taken`` how many it skipped as handed out before.
    """

    since: str
    listed_at: str
    oldest_new: int | None
    new: int
    taken: int


def core_v1_event(event: Event) -> Event:
    """An ``events.k8s.io/v1`` Event in the core/v1 shape (as the API server converts it)."""
    series = event.get("series") or {}
    deprecated_source = event.get("deprecatedSource") or {}
    source = {k: v for k, v in deprecated_source.items() if v}
    if not source.get("component") and event.get("reportingController"):
        source["component"] = event["reportingController"]
    last = event.get("deprecatedLastTimestamp") or series.get("lastObservedTime") or event.get("eventTime")
    first = event.get("deprecatedFirstTimestamp") or event.get("eventTime")
    count = event.get("deprecatedCount") or series.get("count") or 1
    out: Event = {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": event.get("metadata") or {},
        "involvedObject": event.get("regarding") or {},
        "reason": event.get("reason", ""),
        "message": event.get("note", ""),
        "source": source,
        "firstTimestamp": first,
        "lastTimestamp": last,
        "count": count,
        "type": event.get("type", ""),
        "eventTime": event.get("eventTime"),
        "action": event.get("action", ""),
        "reportingComponent": event.get("reportingController", ""),
        "reportingInstance": event.get("reportingInstance", ""),
    }
    if series:
        out["series"] = {"count": series.get("count"), "lastObservedTime": series.get("lastObservedTime")}
    if event.get("related"):
        out["related"] = event["related"]
    return out


WINDOW_BITS = 14
"""The buffer's deflate window: 16 KiB reaches back over the last ~25 events, whose keys, kinds, reasons,
namespaces and names repeat. With :data:`MEMORY_LEVEL` the compressor holds 128 KiB (zlib's defaults: 256);
measured on 2000 simulator events at level 1: 4 KiB window 218 KB out, 5.2 ms per 1000 events; 16 KiB
161 KB, 3.8 ms; 32 KiB 151 KB, 3.6 ms (orjson.loads of the same events: 2-3 ms)."""
MEMORY_LEVEL = 7


class EventBuffer:
    """Buffered events as compact JSON lines in one raw deflate stream, from one drain to the next.

    At 200 events/s and a 10 s period the buffer held 1.3 MiB of JSON by the end of each period
    (~680 bytes an event, one ``bytes`` each); compressed as one stream it holds about an eighth.
    Events are decoded line by line at :meth:`take`, never all decompressed at once.
    """

    def __init__(self) -> None:
        self._compressor: Any = None
        self._chunks: list[bytes] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def append(self, event: Event) -> None:
        """Buffer one event."""
        if self._compressor is None:
            self._compressor = zlib.compressobj(1, zlib.DEFLATED, -WINDOW_BITS, MEMORY_LEVEL)
        out = self._compressor.compress(orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE))
        if out:
            self._chunks.append(out)
        self._count += 1

    def take(self) -> list[Event]:
        """Every buffered event, decoded, in order; the buffer is empty afterwards."""
        if self._compressor is None:
            return []
        chunks = self._chunks
        chunks.append(self._compressor.flush())
        self._compressor, self._chunks, self._count = None, [], 0
        inflate = zlib.decompressobj(-WINDOW_BITS)
        events: list[Event] = []
        pending = b""
        for chunk in chunks:
            lines = (pending + inflate.decompress(chunk)).split(b"\n")
            pending = lines.pop()
            events.extend(orjson.loads(line) for line in lines)
        return events


class _NoVersions(dict[str, str]):
    """A versions map that keeps nothing: the event informer diffs no lists, so it needs none."""

    def __setitem__(self, key: str, value: str) -> None:
        return None


class EventInformer(Informer):
    """An informer for the event stream: resumable, and light on memory.

    * With ``resume_from`` it begins with a watch from that resourceVersion instead of a list.
    * Lists are handed out page by page and nothing is stored (events are a stream, not a cache),
      so a relist of 20 000 events never holds them all at once.
    * ``items_wanted=False`` makes the first list fetch only its resourceVersion (one object),
      as Heapster did when existing events are not exported.
    """

    def __init__(self, *args: Any, resume_from: str | None = None, items_wanted: bool = True,
                 on_relisted: Callable[[Relist], None] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resume_from = resume_from
        self.items_wanted = items_wanted
        self.on_relisted = on_relisted
        self.skipped = 0
        """Events of relists not handed out again (at or below the position reached before)."""
        self._versions = _NoVersions()  # an event stream needs no per-object versions (they only grow)

    async def run(self) -> None:
        if self.resume_from:
            self.resource_version = self.resume_from
            self.synced.set()  # nothing to list: a later relist is a re-sync, not the first view
            await self._watch_until_gone()
        await super().run()

    async def _watch_until_gone(self) -> None:
        """Watch (and re-watch after a dropped stream, with the informer's backoff after a failure) until
        the position expires with 410."""
        try:
            while True:
                await self._retrying(self._watch)
        except Gone:
            log.info("events.resume.expired", path=self.path, resource_version=self.resource_version)

    async def _list(self) -> None:
        """List page by page, handing each event out as ADDED; the position moves once the list is done.

        A relist hands out only events above the position reached before it, a bound fixed for
        the whole list: the API server lists in namespace/name order, not resourceVersion order.
        """
        initial = not self.synced.is_set()
        only_version = initial and not self.items_wanted
        since = "" if initial else self.resource_version
        floor = rv_number(since) if since else None
        params = dict(self.params)
        if only_version:
            params["limit"] = "1"
        elif self.page_size:
            params["limit"] = str(self.page_size)
        version = ""
        new = taken = 0
        oldest_new: int | None = None
        # Repeats after an expired continue token need no special care: the eventer filters them.
        async for body, _ in self._pages(params):
            version = version or str((body.get("metadata") or {}).get("resourceVersion") or "")
            if only_version:
                break
            for raw in body.get("items") or ():
                if not isinstance(raw, dict):
                    continue
                rv = rv_number((raw.get("metadata") or {}).get("resourceVersion"))
                if floor is not None and rv is not None and rv <= floor:
                    taken += 1
                    continue
                if rv is not None and (oldest_new is None or rv < oldest_new):
                    oldest_new = rv
                new += 1
                obj = self.transform(raw) if self.transform else raw
                self._emit(WatchEvent(ADDED, obj, version, initial, gap=not initial))
        self.resource_version = version
        self.lists += 1
        self.skipped += taken
        self.synced.set()
        log.debug("events.listed", path=self.path, resource_version=version, only_version=only_version)
        if not initial and self.on_relisted is not None:
            self.on_relisted(Relist(since, version, oldest_new, new, taken))


class KubernetesEventSource(EventSource):
    """Events of all namespaces, buffered between two ``get_new_events`` calls."""

    name = "kubernetes"

    def __init__(self, api: ApiAccess, *, events_api: str = CORE_V1, buffer_size: int = 100_000,
                 export_existing: bool = False, clock: Clock | None = None,
                 watch_timeout: int = 300, backoff_initial: float = 0.5) -> None:
        if events_api not in PATHS:
            msg = f"unknown events API {events_api!r}"
            raise ValueError(msg)
        self.api = api
        self.events_api = events_api
        self.buffer_capacity = buffer_size
        self.export_existing = export_existing
        self.clock = clock or SystemClock()
        self.watch_timeout = watch_timeout
        self.backoff_initial = backoff_initial
        self.dropped_events = 0
        self.received_events = 0
        self.lost_events = 0
        """Event versions a relist after 410 showed the API no longer holds (count bumps never seen)."""
        self._buffer = EventBuffer()
        """Events compressed (~80 bytes each, where a decoded one is ~2.9 KB), decoded when drained."""
        self._resume: str | None = None
        self._position: str | None = None
        self.occurrences = OccurrenceMemory()
        self._gap_lost = self._gap_uncertain = 0
        self._informer: EventInformer | None = None

    # --- eventer protocol ------------------------------------------------------------------------
    def resume_from(self, position: str | None) -> None:
        """Continue right after ``position`` (a checkpointed resourceVersion); call before start."""
        self._resume = position or None
        self._position = self._resume

    def gap_memory(self) -> dict[str, Any]:
        """What the eventer keeps in its checkpoint so a restart can still count what a gap lost.

        As of the last ``get_new_events``: events still in the buffer are not exported yet.
        """
        return self.occurrences.saved()

    def keep_gap_memory(self, keep: bool) -> None:
        """Whether :meth:`gap_memory` will be asked for: without a checkpoint the memory is not copied at each drain."""
        self.occurrences.keep_taken = keep

    def restore_gap_memory(self, document: Mapping[str, Any]) -> None:
        """Load what :meth:`gap_memory` returned (call before ``start``)."""
        self.occurrences.restore(document)

    @property
    def position(self) -> str | None:
        """The resourceVersion up to which every event has been returned by ``get_new_events``."""
        return self._position

    @property
    def buffer_depth(self) -> int:
        return len(self._buffer)

    @property
    def informer(self) -> EventInformer | None:
        return self._informer

    @property
    def skipped_events(self) -> int:
        """Events of relists not handed out again (handed out before the 410)."""
        return self._informer.skipped if self._informer is not None else 0

    async def start(self) -> None:
        if self._resume is None:
            self.occurrences.mark_complete(self.clock.now())  # every event from now on is watched
        transform = core_v1_event if self.events_api == EVENTS_V1 else None
        self._informer = EventInformer(
            self.api, PATHS[self.events_api], keep_objects=False, transform=transform,
            watch_timeout=self.watch_timeout, backoff_initial=self.backoff_initial, resume_from=self._resume,
            items_wanted=self.export_existing and self._resume is None, on_relisted=self._on_relisted,
        )
        self._informer.add_handler(self._on_change)
        self._informer.start()
        log.info("events.watching", api=self.events_api, resume_from=self._resume,
                 export_existing=self.export_existing, buffer_size=self.buffer_capacity)

    async def get_new_events(self) -> EventBatch:
        """Everything buffered since the last call (the position moves to where the watch is now)."""
        events = self._buffer.take()
        self.occurrences.mark_taken()
        if self._informer is not None and self._informer.resource_version:
            self._position = self._informer.resource_version
        return EventBatch(timestamp=utc_from_epoch(self.clock.now()), events=events)

    async def close(self) -> None:
        if self._informer is not None:
            with contextlib.suppress(Exception):
                await self._informer.stop()

    # --- watch handling ----------------------------------------------------------------------------
    def _on_change(self, change: WatchEvent) -> None:
        if change.type == DELETED:
            self.occurrences.forget(change.object)
            return
        if change.initial and not (self.export_existing and self._resume is None):
            return
        if change.gap:
            # The versions between the last one handed out and this one happened while no watch ran.
            missed = self.occurrences.missed(change.object)
            if missed is None:
                self._gap_uncertain += 1
            else:
                self.lost_events += missed
                self._gap_lost += missed
        self.occurrences.remember(change.object)
        if not change.gap:
            self.occurrences.mark_complete(self.clock.now())
        self.received_events += 1
        if len(self._buffer) >= self.buffer_capacity:
            self.dropped_events += 1
            if self.dropped_events == 1 or self.dropped_events % 1000 == 0:
                log.warning("events.buffer.full", capacity=self.buffer_capacity, dropped=self.dropped_events)
            return
        self._buffer.append(change.object)

    def _on_relisted(self, relist: Relist) -> None:
        """Log the gap a relist after 410 closed: its resourceVersions and the versions lost in it."""
        self.occurrences.mark_complete(self.clock.now())
        lost, uncertain = self._gap_lost, self._gap_uncertain
        self._gap_lost = self._gap_uncertain = 0
        report = log.warning if lost or uncertain else log.info
        report("events.gap", api=self.events_api, handed_out_up_to=relist.since, oldest_new=relist.oldest_new,
               listed_at=relist.listed_at, new_events=relist.new, already_taken=relist.taken, lost_versions=lost,
               uncertain_events=uncertain, lost_total=self.lost_events)


def create_event_source(config: PluginConfig, context: PluginContext) -> EventSource:
    """The factory behind ``--source=kubernetes:...`` for the eventer."""
    from heapster_source_kubernetes.config import load_api_access

    options = config.options
    api = load_api_access(options, config.url)
    return KubernetesEventSource(
        api, events_api=options.get("events_api", CORE_V1), buffer_size=int(options.get("buffer_size", 100_000)),
        export_existing=bool(options.get("export_existing", False)), clock=context.clock,
    )
