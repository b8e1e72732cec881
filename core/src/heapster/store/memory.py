"""The metric store: every metric of the last ``store_duration`` seconds, in compact columns (HEAPSTER.md §6.1).

Unlike Heapster, which kept 140 s of whole batches and 15 min of two metrics, this keeps 15
minutes (configurable) of every metric and labeled metric. Time is a ring of slots, one per
batch timestamp; each metric is one :class:`~heapster.store.columns.Column` (one value per
series while it never changes, a rows x slots matrix once it does); label sets are interned.
A batch is written into a slot that stays invisible to queries until the whole batch is in.

Thread safety: queries may come from any thread (the HTTP API serves from a thread of its own) while a
batch is written. One lock guards the store's state: every public query holds it for its whole answer,
and the writer holds it for one short step at a time (a chunk of entities, one column, the commit, one
column's swap of a sealed block), never while compressing, and lets the queries waiting for it go first
(:class:`~heapster.store.lock.StoreLock`). Between steps the new window is not visible,
so a query sees a window whole or not at all. ``export`` writes from a worker thread, so the event loop
that calls it never waits on the lock; concurrent writers take turns.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from types import MappingProxyType
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np
import structlog

from heapster.columns import ColumnBatch, ValueColumn, to_ns
from heapster.interfaces import MetricSink
from heapster.model import DataBatch, MetricType
from heapster.release import untrack
from heapster.settings import HeapsterSettings
from heapster.store.chunks import Chunk
from heapster.store.columns import (
    BLOCK,
    INT_MISSING,
    Blocks,
    Column,
    IdArray,
    IntArray,
    Presence,
    RowLookups,
    share_row_maps,
)
from heapster.store.lock import StoreLock
from heapster.store.owners import LabelTuple, Owners, label_dict, label_tuple
from heapster.timefmt import from_epoch_nanos

log = structlog.get_logger(__name__)

DEFAULT_DURATION = 900.0
CHUNK = 1000
"""Metric sets registered in one step of a write (queries wait for at most one step)."""
STEP_CELLS = 20_000
"""Cells written in one step of a write: columns are written in groups of about this many cells, a bigger column
in parts of this many."""
SERIES_PART = 2_048
"""Series looked up, or registered, between two checks of a step's CPU time."""
CLEAR_PART = 131_072
"""Owners whose presence bit of a new slot is cleared in one step of a write."""
STEP_CPU = 0.002
"""CPU seconds after which a step of a write that works in parts ends (a query waits for at most one step)."""
LABEL_CACHE_SIZE = 100_000

_EMPTY = int(INT_MISSING)
_NO_LABELS: Mapping[str, str] = MappingProxyType({})
_EMPTY_INDEX: tuple[IntArray, IdArray] = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32))
_NO_OBJECTS: IntArray = np.empty(0, dtype=np.int64)


def _no_pause() -> None:
    pass


P = ParamSpec("P")
R = TypeVar("R")


def _reading(method: Callable[Concatenate[MetricStore, P], R]) -> Callable[Concatenate[MetricStore, P], R]:
    """A query: holds the store's lock for its whole answer (see the module's docstring)."""

    @functools.wraps(method)
    def locked(self: MetricStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


@dataclass(frozen=True, slots=True)
class Point:
    """One stored value and the timestamp of its batch."""

    timestamp: datetime
    value: int | float


@dataclass(slots=True)
class LatestSet:
    """A metric set of the newest batch, rebuilt from the columns (for metric export)."""

    labels: dict[str, str]
    collection_start: datetime | None
    values: dict[str, tuple[int | float, MetricType]] = field(default_factory=dict)
    labeled: list[tuple[str, dict[str, str], int | float, MetricType]] = field(default_factory=list)


@dataclass(slots=True)
class LatestColumns:
    """The newest batch's entities and cells, by column (see :meth:`MetricStore.latest_columns`).

    ``metrics`` holds ``(name, type, entity of each cell, value of each cell, labels of each cell)``; the
    labels are None for plain metrics, a flattened label tuple per cell for labeled ones.
    """

    entities: list[int] = field(default_factory=list)
    labels: list[Mapping[str, str]] = field(default_factory=list)
    """The label dict of each entity (shared with the pipeline: read only)."""
    starts: list[int] = field(default_factory=list)
    metrics: list[tuple[str, MetricType, list[int], list[int | float], list[LabelTuple] | None]] = field(
        default_factory=list)


@dataclass(slots=True)
class _Job:
    ts_ns: int
    slot: int
    entities: list[IntArray] = field(default_factory=list)
    """Entity ids of the batch's rows, one array per registered chunk."""
    starts: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    series: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    relabeled: list[tuple[int, Mapping[str, str], int]] = field(default_factory=list)
    """``(entity, the new label dict given, its hash)`` of entities whose labels changed."""
    merging: bool = False
    """The slot holds a batch already (queries see it while this one is written)."""
    finished: bool = False
    """The batch's owners are marked present and every column finished (before the commit)."""
    owners: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """Entity ids of every row of the batch (made before the commit, see :meth:`MetricStore._prepare_commit`)."""
    newer: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """The batch's entities not seen in a later batch, and their collection starts."""
    newer_starts: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    series_seen: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """The batch's series' last-seen times from the commit on."""


class MetricStore(MetricSink):
    """Heapster's "Metric Sink": keeps recent batches for the HTTP APIs.

    Retention is measured from the newest batch timestamp: slots older than ``duration``
    seconds before it are dropped, and so are entities not seen since.
    """

    name = "Metric Sink"

    def __init__(self, duration: float = DEFAULT_DURATION) -> None:
        self.duration_ns = int(duration * 1e9)
        self.blocks = Blocks()
        self.slot_ts: IntArray = np.full(0, _EMPTY, dtype=np.int64)
        self.entities: Owners[Mapping[str, str]] = Owners(len(self.slot_ts), _NO_LABELS)
        """Metric sets by key; their labels are the label dicts the batches gave (shared and read only, as a
        batch's are: no copy of them is kept)."""
        self.series: Owners[LabelTuple] = Owners(len(self.slot_ts), (), keyed=False)
        """Labeled series (their labels sorted and flattened); found by entity id and label code in
        ``_series_index``, with no Python object per series but the (shared) label tuple."""
        self.columns: dict[str, Column] = {}
        self.labeled_columns: dict[str, Column] = {}
        self.newest_ns = _EMPTY
        self._order: list[int] = []
        """The live slots, oldest batch first (a new list whenever it changes)."""
        self._order_stamps: tuple[list[int], list[int], list[datetime]] = (self._order, [], [])
        """``_order``, and its slots' batch timestamps in nanoseconds and as datetimes (made once per order, for
        the queries: the datetimes are shared by their answers' points)."""
        self._label_codes: dict[LabelTuple, int] = {}
        self._code_labels: list[LabelTuple] = []
        self._object_ids: IntArray = _NO_OBJECTS
        """``id`` of each distinct label dict of the last batch's series, sorted (the dicts are held in
        ``_objects``, so each id stays its own)."""
        self._object_code_of: IntArray = _NO_OBJECTS
        """The label code of each dict of ``_object_ids``."""
        self._objects: list[dict[str, str]] = []
        """The label dicts of the last batch's series (held while their ids are in ``_object_ids``)."""
        self._series_index: tuple[IntArray, IdArray] = _EMPTY_INDEX
        """Sorted ``entity id << 32 | label code`` of every live series, and their series ids."""
        self._live_codes = 0
        """Label codes in use right after the codes last started afresh (they are started afresh only past twice
        this many, so a store holding many label sets does not renumber them every batch)."""
        self._kind_codes: dict[str, int] = {}
        self._kind: IdArray = np.zeros(0, dtype=np.int32)
        """Per entity id, the code (in ``_kind_codes``) of its ``type`` label, set by the writer when the labels
        are registered or change (lets :meth:`latest_of_type` select a type without reading labels)."""
        self._of_type: dict[str, tuple[int, list[tuple[str, Mapping[str, str]]]]] = {}
        """Per type: the store version and the newest batch's ``(key, labels)`` of that type."""
        self._last_keys: list[str] = []
        self._last_ids: IntArray = np.empty(0, dtype=np.int64)
        """The keys of the last batch and their entity ids (a batch with the same keys skips their look-ups;
        forgotten when entities expire, as their ids may be handed out again)."""
        self._last_series: tuple[IdArray, list[dict[str, str]], IdArray] | None = None
        """The entity ids and label dicts of the last batch's series and their series ids (a source that
        keeps its label dicts across scrapes hands the same ones again; forgotten when series expire)."""
        self.version = 0
        """Incremented on every committed batch (lets readers cache what they derive from the latest batch)."""
        self._latest_cache: tuple[int, list[int]] = (-1, [])
        self._latest_columns: dict[str, tuple[int, dict[int, int | float]]] = {}
        self._lock = StoreLock()
        """Held by every query for its answer and by the writer for one step at a time (queries waiting go
        first)."""
        self._writing = threading.Lock()
        """One writer at a time."""
        self.between_steps: Callable[[], None] = _no_pause
        """Called by the writer before each step, outside the lock (the daemon pauses there for its API)."""

    def reading(self) -> StoreLock:
        """The store's lock, for a caller whose answer spans several queries (``with store.reading(): ...``):
        no batch is committed meanwhile. Hold it briefly: the writer waits."""
        return self._lock

    # --- writing -----------------------------------------------------------------------------------
    async def export(self, batch: DataBatch) -> None:
        """Store one batch from a worker thread (the event loop never waits on the store's lock)."""
        await asyncio.to_thread(self.ingest, batch)

    def ingest(self, batch: DataBatch) -> None:
        """Store one batch in the calling thread, in short locked steps (queries may run in between)."""
        pause = self.between_steps
        with self._writing:
            pause()
            with self._lock.step():
                job = self._begin(batch)
            if job is None:
                return
            if not job.merging:
                self._locked_steps(self._clear_presence(job.slot))
            cols = batch.columns
            same_keys = len(cols.keys) == len(self._last_keys) and cols.keys == self._last_keys
            for start in range(0, len(cols), CHUNK):
                pause()
                with self._lock.step():
                    self._register(job, cols, start, start + CHUNK, same_keys)
            if not same_keys:
                self._last_keys = untrack(list(cols.keys))
                self._last_ids = np.concatenate(job.entities) if job.entities else np.empty(0, dtype=np.int64)
            self._locked_steps(self._write(job, cols))
            self._locked_steps(self._finish(job))
            self._locked_steps(self._prepare_commit(job))
            pause()
            with self._lock.step():
                self._commit(job)
            self._locked_steps(self._narrow(job.slot))
            self._seal()

    def prepare(self, batch: DataBatch) -> None:
        """Register what ``batch`` holds (its metric sets, labeled series and their column rows) without storing a
        value: the cold part of a first write (a Python step per new metric set and series), done ahead of it. The
        daemon passes its priming batch, which no sink gets.

        Queries see none of it (no slot holds it), and what the first stored batch lacks expires when that batch
        is committed (never stored: older than any cutoff). Measured in process at 5000 nodes: a cold first write
        costs 1.35 ms per node, the first after :meth:`prepare` 0.07 (bench/README.md, session 7).
        """
        pause = self.between_steps
        cols = batch.columns
        with self._writing:
            job = _Job(_EMPTY, -1)
            for start in range(0, len(cols), CHUNK):
                pause()
                with self._lock.step():
                    self._register(job, cols, start, start + CHUNK)
            self._last_keys = untrack(list(cols.keys))
            self._last_ids = np.concatenate(job.entities) if job.entities else np.empty(0, dtype=np.int64)
            self._locked_steps(self._reserve(job, cols))
            self._locked_steps(share_row_maps(list(self._all_columns()), STEP_CPU))

    def _reserve(self, job: _Job, cols: ColumnBatch) -> Iterator[None]:
        """:meth:`prepare`'s part of :meth:`_write`: each column's rows for the batch's owners, no value written (a
        step per column)."""
        owners = (np.concatenate(job.entities) if job.entities else np.empty(0, dtype=np.int64)).astype(np.int32)
        for name, column in cols.values.items():
            there = column.present()
            if there.any():
                self._column(self.columns, name, column.metric_type, column.is_float).reserve(owners[there])
                yield
        if not cols.series_count:
            return
        sids = yield from self._series_ids(owners[cols.series_entity], cols.series_labels)
        for name, column in cols.labeled.items():
            there = column.present()
            if there.any():
                self._column(self.labeled_columns, name, column.metric_type, column.is_float).reserve(sids[there])
                yield

    def _locked_steps(self, steps: Iterator[None]) -> None:
        """Run a generator's steps (the code between two yields), each holding the lock."""
        while True:
            self.between_steps()
            with self._lock.step():
                if next(steps, False) is False:
                    return

    def _begin(self, batch: DataBatch) -> _Job | None:
        ts_ns = to_ns(batch.timestamp)
        cutoff = max(self.newest_ns, ts_ns) - self.duration_ns
        if ts_ns <= cutoff:
            log.warning("store.batch.too_old", timestamp=batch.timestamp.isoformat())
            return None
        same = np.nonzero(self.slot_ts == ts_ns)[0]
        if len(same):
            slot = int(same[0])
            self.blocks.open.add(slot // BLOCK)
            for column in self._all_columns():
                column.begin(slot, merging=True)
            return _Job(ts_ns, slot, merging=True)
        expired = np.nonzero((self.slot_ts != _EMPTY) & (self.slot_ts <= cutoff))[0]
        self.slot_ts[expired] = _EMPTY
        self._drop_expired_blocks()
        slot = self._next_slot()
        self._refresh_order()
        for column in self._all_columns():
            column.begin(slot, merging=False)
        return _Job(ts_ns, slot)

    def _drop_expired_blocks(self) -> None:
        blocks = self.blocks
        for block in sorted(blocks.live):
            if block != blocks.head and (self.slot_ts[block * BLOCK: (block + 1) * BLOCK] == _EMPTY).all():
                blocks.live.discard(block)
                blocks.open.discard(block)
                for column in self._all_columns():
                    column.drop(block)

    def _next_slot(self) -> int:
        """The head block's next slot; a free block (or a new one) becomes the head when it is full."""
        blocks = self.blocks
        if blocks.fill == BLOCK:
            free = [block for block in range(blocks.count) if block not in blocks.live]
            if not free:
                first = blocks.count
                self._add_blocks(max(1, blocks.count // 2))
                free = [first]
            blocks.head = free[0]
            blocks.fill = 0
            blocks.live.add(blocks.head)
            blocks.open.add(blocks.head)
        slot = blocks.head * BLOCK + blocks.fill
        blocks.fill += 1
        return slot

    def _seal(self) -> None:
        """Compress every plain block but the head, column by column: the head block that just filled is
        sealed once the next batch is in a new head, so the newest slot always stays plain.

        Each column's block is compressed without the lock (queries keep reading the plain block; only
        this writer changes it) and swapped for its chunks under the lock.
        """
        blocks = self.blocks
        with self._lock.step():
            closing = sorted(blocks.open - {blocks.head})
            columns = list(self._all_columns())
        for block in closing:
            for column in columns:
                self.between_steps()
                chunks: list[Chunk] | None = column.compressed(block)
                if chunks is not None:
                    with self._lock.step():
                        column.seal(block, chunks)
            with self._lock.step():
                blocks.open.discard(block)

    def _narrow(self, slot: int) -> Iterator[None]:
        """Keep the slot just committed narrow in each column where it fits and is still whole (the write narrows
        each column's slot as it goes; a column turned dense by :meth:`_finish` is whole), the same cells (queries may
        read between the steps), in steps of about :data:`STEP_CPU`."""
        due = time.thread_time() + STEP_CPU
        for column in list(self._all_columns()):
            if time.thread_time() >= due:
                yield
                due = time.thread_time() + STEP_CPU
            column.narrow(slot)

    def _register(self, job: _Job, cols: ColumnBatch, first: int, last: int, same_keys: bool = False) -> None:
        """Entity ids of rows ``first..last`` of the batch (new entities registered, changed labels kept).

        Known keys and unchanged labels (the label object last given for the id; for another object, one hash
        of its labels against the stamp kept per id) are found in C loops and one array comparison; only new
        entities, other label objects and changed labels take the Python path.
        ``same_keys``: the batch's keys are the last batch's, whose ids are kept (no look-up per key).
        """
        entities = self.entities
        ids = entities.ids
        keys = cols.keys[first:last]
        labels = cols.labels[first:last]
        count = len(keys)
        if same_keys:
            found = self._last_ids[first:last].copy()
        else:
            found = np.fromiter(map(ids.get, keys, repeat(-1, count)), dtype=np.int64, count=count)
        # Label sets are shared between batches: the object last given for an id again means unchanged labels
        # (one array comparison); only other objects are hashed and compared by content.
        objects = np.fromiter(map(id, labels), dtype=np.int64, count=count)
        if len(entities.given_id):
            changed = np.flatnonzero((found < 0) | (entities.given_id[np.maximum(found, 0)] != objects))
        else:
            changed = np.arange(count)
        for index in changed.tolist():
            key = keys[index]
            given = labels[index]
            labels_hash = hash((*given, *given.values()))
            eid = ids.get(key)
            if eid is None:
                eid = entities.add(key, given)
                self._set_kind(eid, given)
                entities.stamp[eid] = labels_hash
                entities.give(eid, given)
            elif entities.stamp[eid] != labels_hash:
                job.relabeled.append((eid, given, labels_hash))  # visible from the commit on
            else:
                entities.give(eid, given)  # equal labels (same hash) in another dict: ``labels`` keeps the one held
            found[index] = eid
        job.entities.append(found)

    def _write(self, job: _Job, cols: ColumnBatch) -> Iterator[None]:
        """Write every column of the batch into the slot, a group of columns of about ``STEP_CELLS`` cells at a
        time (yields after each group; a column of more cells is written in parts of that many).

        Columns with the same cells present get the same owners array (one gather per distinct presence, found
        by its packed bits), so columns that also hold the same row map look their rows up once
        (:class:`RowLookups`)."""
        owners = (np.concatenate(job.entities) if job.entities else np.empty(0, dtype=np.int64)).astype(np.int32)
        job.starts = np.asarray(cols.collection_start, dtype=np.int64)
        yield from self._write_columns(self.columns, cols.values, owners, job.slot)
        if not cols.series_count:
            return
        sids = yield from self._series_ids(owners[cols.series_entity], cols.series_labels)
        job.series = sids.astype(np.int64)
        yield from self._write_columns(self.labeled_columns, cols.labeled, sids, job.slot)

    def _write_columns(self, columns: dict[str, Column], values: Mapping[str, ValueColumn], owners: IdArray,
                       slot: int) -> Iterator[None]:
        """:meth:`_write` of one set of columns: ``values[name][i]`` for ``owners[i]``."""
        picked: dict[bytes, IdArray] = {}
        looked_up = RowLookups()
        cells = 0
        for name, column in values.items():
            there = column.present()
            if there.any():
                mark = np.packbits(there).tobytes()
                targets = picked.get(mark)
                if targets is None:
                    targets = picked[mark] = owners[there]
                    targets.flags.writeable = False  # shared by the columns with this presence
                target = self._column(columns, name, column.metric_type, column.is_float)
                yield from target.write_parts(targets, column.data[there], slot, STEP_CELLS, looked_up)
                target.narrow(slot)  # whole only while it is written: not every column's new slot whole at once
                cells += len(there)
                if cells >= STEP_CELLS:
                    cells = 0
                    yield
        if cells:
            yield

    def _series_ids(self, entity_ids: IdArray, series_labels: list[dict[str, str]]) -> Generator[None, None, IdArray]:
        """The series id of each (entity id, labels) pair, registering new series (yields between steps of
        about :data:`STEP_CPU`: queries run in between).

        A series is found by one number, ``entity id << 32 | label code``, in a sorted index (one
        ``searchsorted`` per batch); the label code of a label dict is looked up once per dict object (a
        source shares one dict among the series of a resource), so known series cost no Python per series.
        The series of the last batch again (same entities, equal label dicts, as a source reusing its entity
        tables gives) cost one comparison of the lists (the dicts are the same objects: pointer checks).
        """
        last = self._last_series
        if (last is not None and np.array_equal(entity_ids, last[0]) and len(series_labels) == len(last[1])
                and series_labels == last[1]):
            return last[2].copy()
        sids = yield from self._find_series(entity_ids, series_labels)
        yield  # the copies below (and the last batch's freed) take milliseconds at 170,000 series
        self._last_series = (entity_ids.copy(), self._objects, sids.copy())
        yield
        return sids

    def _find_series(self, entity_ids: IdArray, series_labels: list[dict[str, str]]) -> Generator[None, None, IdArray]:
        """:meth:`_series_ids` by look-up in the series index, in parts of :data:`SERIES_PART` series and steps of
        at most about :data:`STEP_CPU` (queries run in between).

        The label code of a label dict is kept per dict object from one batch to the next (a source reuses its
        entity tables, so a node's dicts come again, in whatever order the nodes' scrapes ended), in two sorted
        arrays (ids and codes: no Python object per dict but the list that holds the dicts): known objects are
        found by one ``searchsorted`` per part, only another object is sorted and interned by content
        (:meth:`_label_code`).
        """
        count = len(series_labels)
        yield from self._bound_label_codes(len(self._object_ids))
        known_ids, known_codes = self._object_ids, self._object_code_of
        seen_ids: list[IntArray] = []
        seen_codes: list[IntArray] = []
        index_keys, index_ids = self._series_index
        wanted = np.empty(count, dtype=np.int64)
        sids = np.full(count, -1, dtype=np.int32)
        hit = np.zeros(count, dtype=bool)
        due = time.thread_time() + STEP_CPU
        for first in range(0, count, SERIES_PART):
            part_labels = series_labels[first:first + SERIES_PART]
            last = first + len(part_labels)
            objects = np.fromiter(map(id, part_labels), dtype=np.int64, count=len(part_labels))
            distinct, first_at, inverse = np.unique(objects, return_index=True, return_inverse=True)
            at = np.minimum(np.searchsorted(known_ids, distinct), max(len(known_ids) - 1, 0))
            known = known_ids[at] == distinct if len(known_ids) else np.zeros(len(distinct), dtype=bool)
            distinct_codes = np.where(known, known_codes[at] if len(known_ids) else 0, 0)
            for unknown in np.flatnonzero(~known).tolist():
                distinct_codes[unknown] = self._label_code(part_labels[int(first_at[unknown])])
            seen_ids.append(distinct)
            seen_codes.append(distinct_codes)
            part = wanted[first:last]
            part[:] = distinct_codes[inverse]
            part |= entity_ids[first:last].astype(np.int64) << 32
            pos = np.searchsorted(index_keys, part)
            found = pos < len(index_keys)
            found[found] = index_keys[pos[found]] == part[found]
            hit[first:last] = found
            sids[first:last][found] = index_ids[pos[found]]
            if time.thread_time() >= due:
                yield
                due = time.thread_time() + STEP_CPU
        ids, first_seen = np.unique(np.concatenate(seen_ids) if seen_ids else _NO_OBJECTS, return_index=True)
        self._objects = untrack(list(series_labels))
        self._object_ids = ids
        self._object_code_of = (np.concatenate(seen_codes)[first_seen] if seen_codes else _NO_OBJECTS).astype(np.int64)
        missed = np.flatnonzero(~hit)
        if len(missed):
            series = self.series
            code_labels = self._code_labels
            codes = wanted & 0xFFFFFFFF
            made: dict[int, int] = {}  # a series twice in the batch is one series
            for step in range(0, len(missed), SERIES_PART):
                if time.thread_time() >= due:
                    yield
                    due = time.thread_time() + STEP_CPU
                part = missed[step:step + SERIES_PART]
                for index, eid, code, key in zip(part.tolist(), entity_ids[part].tolist(), codes[part].tolist(),
                                                 wanted[part].tolist(), strict=True):
                    sid = made.get(key)
                    if sid is None:
                        sid = made[key] = series.add(None, code_labels[code], parent=eid)
                    sids[index] = sid
            yield
            merged_keys, first_at = np.unique(np.concatenate([index_keys, wanted[missed]]), return_index=True)
            self._series_index = (merged_keys, np.concatenate([index_ids, sids[missed]])[first_at])
        return sids

    def _label_code(self, labels: Mapping[str, str]) -> int:
        """A small int per distinct label set of labeled metrics (for the series index), found by the labels sorted
        and interned. Called only for a label dict not in the last batch (:meth:`_find_series`): a cache of codes
        by the labels as given (kept before) held ~5 KiB per node at 1000 nodes for a saving of a few
        microseconds per new dict (bench/README.md, session 11, storemem7)."""
        ordered = label_tuple(labels, ordered=True)
        code = self._label_codes.get(ordered)
        if code is None:
            code = self._label_codes[ordered] = len(self._code_labels)
            self._code_labels.append(ordered)
        return code

    def _bound_label_codes(self, in_batch: int) -> Iterator[None]:
        """Start the label codes afresh once many volumes came and went: before a batch's look-ups, never
        within them (codes already handed out for the batch would name other labels), and only past
        :data:`LABEL_CACHE_SIZE`, twice the batch's own distinct label sets (a cluster of 150,000 pods has more
        than 100,000 volumes at once) and twice the codes the live series needed when they last started afresh."""
        limit = max(LABEL_CACHE_SIZE, 2 * in_batch, 2 * self._live_codes)
        if len(self._code_labels) >= limit:
            yield from self._index_live_series()

    def _index_live_series(self) -> Iterator[None]:
        """New label codes for the label sets of the live series, and the series index made from them, in steps
        of about :data:`STEP_CPU`; made aside and put in place at once (queries in between use the old ones; only
        this writer adds or drops series)."""
        series = self.series
        live = series.alive()
        label_codes: dict[LabelTuple, int] = {}
        code_labels: list[LabelTuple] = []
        codes = np.empty(len(live), dtype=np.int64)
        due = time.thread_time() + STEP_CPU
        for first in range(0, len(live), SERIES_PART):
            if time.thread_time() >= due:
                yield
                due = time.thread_time() + STEP_CPU
            for at, sid in enumerate(live[first:first + SERIES_PART], first):
                labels = series.labels[sid]
                code = label_codes.get(labels)
                if code is None:
                    code = label_codes[labels] = len(code_labels)
                    code_labels.append(labels)
                codes[at] = code
        ids = np.array(live, dtype=np.int32)
        keys = (series.parent[ids].astype(np.int64) << 32) | codes
        order = np.argsort(keys)
        self._label_codes, self._code_labels = label_codes, code_labels
        self._object_ids = self._object_code_of = _NO_OBJECTS
        self._objects = []
        self._live_codes = len(code_labels)
        self._series_index = (keys[order], ids[order])

    def _series_id(self, eid: int, code: int) -> int | None:
        """The id of the series of entity ``eid`` with the labels of ``code``, if stored."""
        index_keys, index_ids = self._series_index
        wanted = (eid << 32) | code
        pos = int(np.searchsorted(index_keys, wanted))
        return int(index_ids[pos]) if pos < len(index_keys) and int(index_keys[pos]) == wanted else None

    def _forget_series(self, gone: IdArray) -> None:
        """Drop expired series ids from the series index (their ids will be handed out again)."""
        index_keys, index_ids = self._series_index
        keep = ~np.isin(index_ids, gone)
        self._series_index = (index_keys[keep], index_ids[keep])

    def _column(self, columns: dict[str, Column], name: str, metric_type: MetricType, is_float: bool) -> Column:
        column = columns.get(name)
        if column is None:
            owners: Presence = self.entities if columns is self.columns else self.series
            column = columns[name] = Column(is_float, metric_type, self.blocks, owners)
        return column

    def _clear_presence(self, slot: int) -> Iterator[None]:
        """No owner is in the new ``slot`` yet: its presence bits cleared for :data:`CLEAR_PART` owners a step (a
        bit in every row of a matrix of a million series takes milliseconds; the slot is not read before the
        commit)."""
        for owners in (self.entities, self.series):
            for first in range(0, len(owners.present_bits), CLEAR_PART):
                owners.clear(slot, first, first + CLEAR_PART)
                yield

    def _finish(self, job: _Job) -> Iterator[None]:
        """Mark the batch's owners present in its slot and let every column check its cells (and turn dense if
        it must), in steps of about :data:`STEP_CPU`, before the commit: only for a slot of its own, which no
        query reads before the commit."""
        if job.merging:
            return
        self.entities.mark(np.concatenate(job.entities) if job.entities else np.empty(0, dtype=np.int64), job.slot)
        yield
        self.series.mark(job.series, job.slot)
        yield
        due = time.thread_time() + STEP_CPU
        counted: dict[tuple[int, int], tuple[IdArray, int]] = {}  # columns of one row map: one count
        for column in list(self._all_columns()):
            if time.thread_time() >= due:
                yield
                due = time.thread_time() + STEP_CPU
            column.finish(job.slot, counted)
        job.finished = True

    def _prepare_commit(self, job: _Job) -> Iterator[None]:
        """The commit's array work, in steps before it (only this writer changes what it reads): the entities
        whose last-seen time and start the commit sets, and the series' last-seen times."""
        job.owners = np.concatenate(job.entities) if job.entities else np.empty(0, dtype=np.int64)
        newer = self.entities.last_seen[job.owners] <= job.ts_ns
        job.newer = job.owners[newer]
        job.newer_starts = job.starts[newer]
        yield
        job.series_seen = np.maximum(self.series.last_seen[job.series], job.ts_ns)
        yield from share_row_maps(list(self._all_columns()), STEP_CPU)  # the rows this write handed out

    def _commit(self, job: _Job) -> None:
        # Membership of the batch becomes visible only now, together with its slot (and changed labels).
        for eid, given, labels_hash in job.relabeled:
            if self.entities.last_seen[eid] > job.ts_ns:
                continue  # a late (older) batch: the labels of the entity's newer batch stay its labels
            self.entities.labels[eid] = given
            self._set_kind(eid, given)
            self.entities.stamp[eid] = labels_hash
            self.entities.give(eid, given)
        self.entities.last_seen[job.newer] = job.ts_ns
        self.entities.start[job.newer] = job.newer_starts
        self.series.last_seen[job.series] = job.series_seen
        if not job.finished:
            self.entities.mark(job.owners, job.slot)
            self.series.mark(job.series, job.slot)
            for column in self._all_columns():
                column.finish(job.slot)
        self.slot_ts[job.slot] = job.ts_ns
        self.version += 1
        self.newest_ns = max(self.newest_ns, job.ts_ns)
        self._refresh_order()
        cutoff = self.newest_ns - self.duration_ns
        gone = self.entities.expire(cutoff)
        if len(gone):
            self._last_keys = []
            self._last_ids = np.empty(0, dtype=np.int64)
            for column in self.columns.values():
                column.release(gone)
        gone = self.series.expire(cutoff)
        if len(gone):
            self._last_series = None
            self._forget_series(gone)
            for column in self.labeled_columns.values():
                column.release(gone)

    def _set_kind(self, eid: int, labels: Mapping[str, str]) -> None:
        """Record the ``type`` label of entity ``eid``."""
        kind = labels.get("type", "")
        code = self._kind_codes.get(kind) if isinstance(kind, str) else None
        if code is None:
            kind = str(kind)
            code = self._kind_codes.setdefault(kind, len(self._kind_codes))
        if eid >= len(self._kind):
            grown = np.full(max(eid + 1, len(self._kind) * 3 // 2, 64), -1, dtype=np.int32)
            grown[: len(self._kind)] = self._kind
            self._kind = grown
        self._kind[eid] = code

    def _add_blocks(self, count: int) -> None:
        self.blocks.count += count
        slots = count * BLOCK
        self.slot_ts = np.concatenate([self.slot_ts, np.full(slots, _EMPTY, dtype=np.int64)])
        self.entities.add_slots(slots)
        self.series.add_slots(slots)

    def _refresh_order(self) -> None:
        live = np.nonzero(self.slot_ts != _EMPTY)[0]
        self._order = live[np.argsort(self.slot_ts[live], kind="stable")].tolist()

    def _all_columns(self) -> Iterable[Column]:
        yield from self.columns.values()
        yield from self.labeled_columns.values()

    # --- batch-level queries ------------------------------------------------------------------------
    @property
    @_reading
    def latest_timestamp(self) -> datetime | None:
        """Timestamp of the newest batch stored, or None."""
        return None if self.newest_ns == _EMPTY else from_epoch_nanos(self.newest_ns)

    @property
    @_reading
    def latest_size(self) -> int:
        """Number of metric sets in the newest batch."""
        return len(self._latest_ids())

    @_reading
    def latest_keys(self) -> list[str]:
        """Keys of the metric sets of the newest batch."""
        return [str(self.entities.ident[eid]) for eid in self._latest_ids()]

    @_reading
    def latest_entities(self, accept: Callable[[str], bool] | None = None) -> list[tuple[str, dict[str, str]]]:
        """``(key, labels)`` of each metric set of the newest batch (only keys ``accept`` approves, if given)."""
        entities = self.entities
        found = []
        for eid in self._latest_ids():
            key = str(entities.ident[eid])
            if accept is None or accept(key):
                found.append((key, dict(entities.labels[eid])))
        return found

    @_reading
    def latest_of_type(self, kind: str) -> list[tuple[str, Mapping[str, str]]]:
        """``(key, labels)`` of each metric set of the newest batch whose ``type`` label is ``kind``, in the
        order of :meth:`latest_entities`.

        Made once per batch and type: the entities are selected by an array of type codes (kept by the writer),
        and their labels are the store's own label dicts, not copies. The list and its dicts are shared between
        callers and with the pipeline: read them, never change them."""
        cached = self._of_type.get(kind)
        if cached is not None and cached[0] == self.version:
            return cached[1]
        code = self._kind_codes.get(kind)
        if code is None or self.newest_ns == _EMPTY:
            return []
        entities = self.entities
        count = len(entities.ident)
        selected = np.flatnonzero((entities.last_seen[:count] == self.newest_ns) & (self._kind[:count] == code))
        labels, ident = entities.labels, entities.ident
        found = [(str(ident[eid]), labels[eid]) for eid in selected.tolist()]
        self._of_type[kind] = (self.version, found)
        return found

    @_reading
    def labels(self, key: str) -> dict[str, str] | None:
        """The latest labels of ``key``, or None if it is not stored."""
        eid = self.entities.get(key)
        return None if eid is None else dict(self.entities.labels[eid])

    @_reading
    def __contains__(self, key: object) -> bool:
        return self.entities.get(key) is not None if isinstance(key, str) else False

    def _latest_ids(self) -> list[int]:
        if self.newest_ns == _EMPTY:
            return []
        version, ids = self._latest_cache
        if version != self.version:
            count = len(self.entities.ident)
            ids = np.nonzero(self.entities.last_seen[:count] == self.newest_ns)[0].tolist()
            self._latest_cache = (self.version, ids)
        return ids

    # --- series queries ----------------------------------------------------------------------------
    @_reading
    def metric_names(self, key: str) -> list[str]:
        """Names of the metrics ``key`` has a value of in the stored window, sorted."""
        eid = self.entities.get(key)
        order = self._order
        if eid is None or not order:  # none stored yet (a key is registered before its first batch's commit)
            return []
        names = []
        for name, column in self.columns.items():
            row = column.row(eid)
            if row >= 0 and column.has_value(row, order):
                names.append(name)
        names.sort()
        return names

    @_reading
    def get_metric(self, name: str, keys: Sequence[str], start: datetime | None = None,
                   end: datetime | None = None) -> dict[str, list[Point]]:
        """Values of metric ``name`` for ``keys`` with batch timestamps in ``[start, end]``."""
        column = self.columns.get(name)
        result: dict[str, list[Point]] = {}
        if column is None:
            return result
        slots, stamps = self._window(start, end)
        found = []
        for key in keys:
            eid = self.entities.get(key)
            if eid is not None:
                found.append((key, column.row(eid)))
        return self._points(column, found, slots, stamps)

    @_reading
    def get_labeled_metric(self, name: str, labels: Mapping[str, str], keys: Sequence[str],
                           start: datetime | None = None, end: datetime | None = None) -> dict[str, list[Point]]:
        """Values of labeled metric ``name`` whose labels equal ``labels`` exactly, for ``keys``."""
        column = self.labeled_columns.get(name)
        result: dict[str, list[Point]] = {}
        if column is None:
            return result
        code = self._label_codes.get(label_tuple(labels, ordered=True))
        if code is None:
            return result
        slots, stamps = self._window(start, end)
        found = []
        for key in keys:
            eid = self.entities.get(key)
            sid = None if eid is None else self._series_id(eid, code)
            if sid is not None:
                found.append((key, column.row(sid)))
        return self._points(column, found, slots, stamps)

    @_reading
    def latest_value(self, key: str, name: str) -> int | float | None:
        """The value of ``name`` for ``key`` in the newest batch, or None."""
        eid = self.entities.get(key)
        if eid is None:
            return None
        return self.latest_column(name).get(eid)

    @_reading
    def latest_column(self, name: str) -> dict[int, int | float]:
        """Entity id -> value of metric ``name`` in the newest batch.

        Made once per batch and metric in one vectorized pass (then kept until the next batch), so a
        metrics.k8s.io list of 30 000 pods costs dictionary look-ups, not 120 000 array reads.
        """
        cached = self._latest_columns.get(name)
        if cached is not None and cached[0] == self.version:
            return cached[1]
        column = self.columns.get(name)
        values: dict[int, int | float] = {}
        if column is not None and self.newest_ns != _EMPTY:
            values = dict(_slot_values(column, self._order[-1]))
        self._latest_columns[name] = (self.version, values)
        return values

    @_reading
    def latest_sets(self, types: frozenset[str] | None = None) -> dict[str, LatestSet]:
        """The newest batch's metric sets (optionally only those whose ``type`` is in ``types``)."""
        if self.newest_ns == _EMPTY:
            return {}
        entities = self.entities
        out: dict[str, LatestSet] = {}
        by_id: dict[int, LatestSet] = {}
        for eid in self._latest_ids():
            labels = dict(entities.labels[eid])
            if types is not None and labels.get("type") not in types:
                continue
            start = int(entities.start[eid])
            found = LatestSet(labels, None if start == _EMPTY else from_epoch_nanos(start))
            by_id[eid] = found
            out[str(entities.ident[eid])] = found
        slot = self._order[-1]
        for name, column in self.columns.items():
            for owner, value in _slot_values(column, slot):
                target = by_id.get(owner)
                if target is not None:
                    target.values[name] = (value, column.metric_type)
        for name, column in self.labeled_columns.items():
            for owner, value in _slot_values(column, slot):
                target = by_id.get(int(self.series.parent[owner]))
                if target is not None:
                    target.labeled.append((name, label_dict(self.series.labels[owner]), value, column.metric_type))
        return out

    @_reading
    def latest_columns(self, names: frozenset[str], types: frozenset[str] | None = None) -> LatestColumns:
        """The newest batch in columns: its entities (only those whose ``type`` is in ``types``, if given)
        and, per metric in ``names`` (store order, plain metrics first), the owners and values of its cells.

        What :meth:`latest_sets` holds, without a Python object per value (metric export builds its JSON
        from these lists).
        """
        found = LatestColumns()
        if self.newest_ns == _EMPTY:
            return found
        entities = self.entities
        ids = self._latest_ids()
        if types is not None:
            kinds = [self._entity_type(eid) for eid in ids]
            ids = [eid for eid, kind in zip(ids, kinds, strict=True) if kind in types]
        found.entities = ids
        found.labels = [entities.labels[eid] for eid in ids]
        found.starts = entities.start[ids].tolist() if ids else []
        slot = self._order[-1]
        for name, column in self.columns.items():
            if name in names:
                owners, values = _slot_columns(column, slot)
                found.metrics.append((name, column.metric_type, owners.tolist(), values, None))
        for name, column in self.labeled_columns.items():
            if name in names:
                owners, values = _slot_columns(column, slot)
                parents = self.series.parent[owners].tolist()
                series_labels = self.series.labels
                found.metrics.append((name, column.metric_type, parents, values,
                                      [series_labels[sid] for sid in owners.tolist()]))
        return found

    def _entity_type(self, eid: int) -> str:
        """The ``type`` label of an entity."""
        found: str = self.entities.labels[eid].get("type", "")
        return found

    def _window(self, start: datetime | None, end: datetime | None) -> tuple[list[int], list[datetime]]:
        """The slots with batch timestamps in ``[start, end]``, oldest first, and those timestamps."""
        order, stamps_ns, stamps = self._order_stamps
        if order is not self._order:  # the order changed (a batch came or went): its timestamps made once
            order = self._order
            stamps_ns = self.slot_ts[order].tolist() if order else []
            stamps = [from_epoch_nanos(ts) for ts in stamps_ns]
            self._order_stamps = (order, stamps_ns, stamps)
        first = 0 if start is None else bisect_left(stamps_ns, to_ns(start))
        last = len(stamps_ns) if end is None else bisect_right(stamps_ns, to_ns(end))
        return order[first:last], stamps[first:last]

    @staticmethod
    def _points(column: Column, found: list[tuple[str, int]], slots: list[int],
                stamps: list[datetime]) -> dict[str, list[Point]]:
        """The points of each ``(key, row)`` (keys without any left out), read from the column at once."""
        found = [(key, row) for key, row in found if row >= 0]
        if not found or not slots:
            return {}
        cells = column.rows_cells(np.array([row for _, row in found], dtype=np.int64), slots)
        masks = column.present(cells).tolist()
        result: dict[str, list[Point]] = {}
        for (key, _), mask, values in zip(found, masks, cells.tolist(), strict=True):
            points = [Point(stamps[i], values[i]) for i, there in enumerate(mask) if there]
            if points:
                result[key] = points
        return result

    @_reading
    def memory_bytes(self) -> int:
        """Bytes held by the numpy arrays (columns and registries), for benchmarks."""
        total = self.slot_ts.nbytes
        maps: dict[int, int] = {}
        for column in self._all_columns():
            total += column.nbytes
            maps[id(column.row_of)], maps[id(column.owner_of)] = column.row_of.nbytes, column.owner_of.nbytes
        total += sum(maps.values())
        for owners in (self.entities, self.series):
            total += owners.last_seen.nbytes + owners.start.nbytes + owners.parent.nbytes + owners.present_bits.nbytes
        return total


def _slot_columns(column: Column, slot: int) -> tuple[IdArray, list[int | float]]:
    cells = column.slot_cells(slot)
    rows = np.nonzero(column.present(cells))[0]
    owners: IdArray = column.owner_of[rows]
    keep = owners >= 0
    return owners[keep], cells[rows[keep]].tolist()


def _slot_values(column: Column, slot: int) -> list[tuple[int, int | float]]:
    cells = column.slot_cells(slot)
    rows = np.nonzero(column.present(cells))[0]
    owners: IdArray = column.owner_of[rows]
    keep = owners >= 0
    return list(zip(owners[keep].tolist(), cells[rows[keep]].tolist(), strict=True))


def create_metric_store(settings: HeapsterSettings | Mapping[str, Any]) -> MetricStore:
    """The store the CLI adds as sink ``metric`` unless ``--disable_metric_sink`` (setting ``store_duration``)."""
    duration = HeapsterSettings.of(settings).store_duration
    return MetricStore(float(duration) if duration else DEFAULT_DURATION)
