"""The columnar batch: an entity table and one numpy array per metric, no Python object per value.

A :class:`ColumnBatch` holds the metric sets of one window as

* an **entity table**: row ``r`` is one metric set (key, label dict, ``type`` code, collection start,
  create and scrape times as int64 nanoseconds since the epoch, :data:`MISSING` when unknown);
* **value columns**: per metric name one :class:`ValueColumn`, an int64 or float64 array with one cell
  per entity (:data:`MISSING` or NaN where the entity has no such value);
* a **series table** for labeled metrics (``filesystem/usage`` per ``resource_id``, ...): row ``s``
  is one (entity row, label dict) pair, and **labeled columns** hold one cell per series.

Processors work on whole columns; sources build batches with :class:`BatchBuilder`; the store and the
sinks read the columns. Label dicts are shared (between rows, batches and the source's caches) and
read-only: a processor changes a row's labels by putting a new dict in its place, never by updating it.
Heapster's per-set shape (``MetricSet``) is built from the columns only when a plugin asks for it
(:meth:`ColumnBatch.to_metric_sets`).
"""

from __future__ import annotations

import bisect
import itertools
import math
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from heapster import keys
from heapster.model import LabeledMetric, MetricSet, MetricType, MetricValue
from heapster.pausepoint import pause
from heapster.release import release_list, untrack
from heapster.timefmt import epoch_nanos, from_epoch_nanos

MISSING = int(np.iinfo(np.int64).min)
"""An empty int cell (and an unknown time); float cells use NaN."""

TYPE_CODES: dict[str, int] = {
    keys.NODE: 1, keys.SYS_CONTAINER: 2, keys.POD: 3, keys.POD_CONTAINER: 4, keys.NAMESPACE: 5, keys.CLUSTER: 6,
}
"""``type`` label -> the code kept in :attr:`ColumnBatch.types` (0 for anything else)."""
NODE, SYS_CONTAINER, POD, POD_CONTAINER, NAMESPACE, CLUSTER = (TYPE_CODES[t] for t in (
    keys.NODE, keys.SYS_CONTAINER, keys.POD, keys.POD_CONTAINER, keys.NAMESPACE, keys.CLUSTER))

Array = npt.NDArray[Any]
IntArray = npt.NDArray[np.int64]
RowArray = npt.NDArray[np.intp]


def to_ns(ts: datetime | None) -> int:
    """Nanoseconds since the epoch (microsecond precision); MISSING for None."""
    return MISSING if ts is None else epoch_nanos(ts)


def from_ns(ns: int) -> datetime | None:
    """The aware UTC datetime of ``ns``; None for MISSING."""
    return None if ns == MISSING else from_epoch_nanos(ns)


def type_code(labels: Mapping[str, str]) -> int:
    """The :data:`TYPE_CODES` code of a label set."""
    return TYPE_CODES.get(labels.get("type", ""), 0)


GROW_SPARE = 64
"""Spare cells a copying :meth:`ValueColumn.grow` leaves for the next (a window adds its namespaces and the cluster)."""


class ValueColumn:
    """One metric's cells: ``data[i]`` belongs to entity (or series) ``i``.

    Ints are int64 with :data:`MISSING` for "no value", floats are float64 with NaN (so a NaN
    value is no value). A metric that has ints in some cells and floats in others (only
    third-party sources make such) is held as floats with ``ints`` marking the int cells, so each
    value keeps its type as Heapster's model gives it.
    """

    __slots__ = ("_room", "data", "ints", "metric_type")

    def __init__(self, data: Array, metric_type: MetricType, ints: npt.NDArray[np.bool_] | None = None) -> None:
        self.data = data
        self.metric_type = metric_type
        self.ints = ints
        self._room: Array | None = None
        """An array of this column's own whose first cells ``data`` was made (by :meth:`empty`, :meth:`in_room`
        or a copying :meth:`grow`): a growth takes its spare cells instead of copying ``data``."""
    @classmethod
    def empty(cls, size: int, is_float: bool, metric_type: MetricType) -> ValueColumn:
        """A column of ``size`` empty cells (and :data:`GROW_SPARE` more for :meth:`grow`)."""
        if is_float:
            return cls.in_room(np.full(size + GROW_SPARE, np.nan, dtype=np.float64), size, metric_type)
        return cls.in_room(np.full(size + GROW_SPARE, MISSING, dtype=np.int64), size, metric_type)

    @classmethod
    def in_room(cls, room: Array, size: int, metric_type: MetricType) -> ValueColumn:
        """A column of the first ``size`` cells of ``room`` (a 1-d array of its own): :meth:`grow` takes the
        further ones before it copies."""
        column = cls(room[:size], metric_type)
        column._room = room
        return column

    @property
    def is_float(self) -> bool:
        return self.data.dtype.kind == "f"

    def present(self) -> npt.NDArray[np.bool_]:
        """Which cells hold a value."""
        mask: npt.NDArray[np.bool_] = ~np.isnan(self.data) if self.is_float else self.data != MISSING
        return mask

    def cell(self, row: int) -> int | float | None:
        """The value of one cell, or None."""
        value: int | float = self.data[row].item()
        if math.isnan(value) or value == MISSING:  # NaN or the int marker
            return None
        if self.ints is not None and self.ints[row]:
            return int(value)
        return value

    def values(self, rows: RowArray) -> list[int | float]:
        """The values of ``rows`` (all present) as Python numbers of their own type."""
        found: list[int | float] = self.data[rows].tolist()
        if self.ints is not None:
            for index in np.flatnonzero(self.ints[rows]).tolist():
                found[index] = int(found[index])
        return found

    def set(self, rows: RowArray, values: Array) -> None:
        """Write ``values`` into ``rows``; int and float cells may mix (see the class docstring)."""
        incoming_float = values.dtype.kind == "f"
        if incoming_float and not self.is_float:
            self.to_float()
        elif not incoming_float and self.is_float:
            if self.ints is None:
                self.ints = np.zeros(len(self.data), dtype=bool)
            self.ints[rows] = True
            self.data[rows] = values
            return
        if self.ints is not None:
            self.ints[rows] = False
        self.data[rows] = values

    def to_float(self) -> None:
        """Hold floats from now on; the int cells so far stay ints (``ints``)."""
        if not self.is_float:
            there = self.data != MISSING
            data = self.data.astype(np.float64)
            data[~there] = np.nan
            self.data = data
            self.ints = there if there.any() else None

    def grow(self, size: int) -> None:
        """Pad with empty cells up to ``size``.

        A window's processors grow every column a few times by a few rows (namespaces, then the cluster): a column
        made with spare cells (:data:`GROW_SPARE`) behind ``data``, or grown before, only empties some of them and
        takes a longer view (no copy); a growth that must copy leaves spare cells for the next."""
        used = len(self.data)
        extra = size - used
        if extra <= 0:
            return
        empty = np.nan if self.is_float else MISSING
        room = self._room
        data = self.data
        if (room is not None and len(room) >= size and data.dtype == room.dtype and data.strides == room.strides
                and data.ctypes.data == room.ctypes.data):  # ``data`` is still the start of ``room``
            room[used:size] = empty
            self.data = room[:size]
        else:
            room = np.empty(size + GROW_SPARE, dtype=self.data.dtype)
            room[:used] = self.data
            room[used:size] = empty
            self._room = room
            self.data = room[:size]
        if self.ints is not None:
            self.ints = np.concatenate([self.ints, np.zeros(extra, dtype=bool)])

    def take(self, rows: RowArray) -> ValueColumn:
        """A new column of the cells at ``rows``."""
        return ValueColumn(self.data[rows], self.metric_type, None if self.ints is None else self.ints[rows])


def _as_array(values: Sequence[int | float]) -> Array:
    """Values as int64 or float64 (a float anywhere, or ints beyond int64, make it floats)."""
    array = np.array(values)
    if array.dtype.kind == "i":
        return array.astype(np.int64, copy=False)
    if array.dtype.kind == "f":
        return array
    return np.array([_as_float(v) for v in values], dtype=np.float64)


def _as_float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return float("nan")


_ROW_NUMBERS: list[int] = []


def _row_numbers(count: int) -> list[int]:
    """The ints 0, 1, ... (at least ``count`` of them) as one shared list: a key index built from it holds no int
    objects of its own (ints past 256 are objects), so freeing it frees none (at 1000 nodes 5 ms -> 1.5 ms)."""
    global _ROW_NUMBERS
    rows = _ROW_NUMBERS
    if len(rows) < count:
        rows = _ROW_NUMBERS = list(range(count + count // 8))  # replaced whole: safe for a reader in another thread
    return rows


_SHARED_ROWS: dict[int, IntArray] = {}
"""Read-only row arrays by the hash of their bytes, shared by every holder of equal rows (:func:`shared_rows`)."""
_SHARED_ROWS_MAX = 4096
"""Arrays kept in :data:`_SHARED_ROWS` at most (a cluster's nodes have a few hundred sizes and layouts of table)."""


def shared_rows(rows: Sequence[int]) -> IntArray:
    """``rows`` as an int64 array, to be read only: one array for equal rows, shared by every caller. Nodes' tables
    repeat a few patterns: a node's stats rows are ``0, 1, ..., n - 1`` (every entity has its stats), and so are the
    rows of a node's pod and container run that have a create time; its network rows and its container rows are the
    same for nodes of as many pods of as many containers (``n`` times 8 bytes each, not held again by each node)."""
    found = np.array(rows, dtype=np.int64)
    ident = hash(found.tobytes())
    shared = _SHARED_ROWS.get(ident)
    if shared is None:
        if len(_SHARED_ROWS) >= _SHARED_ROWS_MAX:
            return found
        found.flags.writeable = False
        shared = _SHARED_ROWS[ident] = found
    return shared if np.array_equal(shared, found) else found


PAUSE_EVERY = 64
"""Parts (nodes) of a window's join between two of its pause points (:func:`heapster.pausepoint.pause`)."""
RELEASE_FROM = 10_000
"""Entities from which a dying :class:`ColumnBatch` frees its lists a piece at a time (a window of 100 nodes or
more; a node's part, about a hundred entities, goes at once)."""


class ColumnBatch:
    """The metric sets of one window in columns (see the module docstring)."""

    __slots__ = (
        "_index",
        "collection_start",
        "create_time",
        "keys",
        "labeled",
        "labels",
        "scrape_time",
        "series_entity",
        "series_labels",
        "types",
        "values",
    )

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.labels: list[dict[str, str]] = []
        self.types: npt.NDArray[np.int8] = np.empty(0, dtype=np.int8)
        self.collection_start: IntArray = np.empty(0, dtype=np.int64)
        self.create_time: IntArray = np.empty(0, dtype=np.int64)
        self.scrape_time: IntArray = np.empty(0, dtype=np.int64)
        self.values: dict[str, ValueColumn] = {}
        self.series_entity: IntArray = np.empty(0, dtype=np.int64)
        self.series_labels: list[dict[str, str]] = []
        self.labeled: dict[str, ValueColumn] = {}
        self._index: dict[str, int] | None = None

    def __del__(self) -> None:
        """A batch of :data:`RELEASE_FROM` entities or more (a window's) frees its key index and entity lists one
        at a time, each list a piece at a time (:mod:`heapster.release`): in one go, at 1000 nodes, they held the
        interpreter 6-10 ms in whichever thread let go of the batch last, while API requests waited."""
        try:
            if len(self.keys) < RELEASE_FROM:
                return
            index, self._index = self._index, None
            del index  # its ints are shared (:func:`_row_numbers`): 1.4-1.7 ms at 1000 nodes
            for name in ("series_labels", "labels", "keys"):
                items = getattr(self, name)
                setattr(self, name, [])
                release_list(items)
                del items
        except AttributeError:  # never fully made
            return

    # --- shape ---------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.keys)

    @property
    def series_count(self) -> int:
        return len(self.series_labels)

    def row_of(self, key: str) -> int | None:
        """The entity row of ``key``, or None."""
        if self._index is None:
            self._index = dict(zip(self.keys, _row_numbers(len(self.keys)), strict=False))  # the longer list: shared
        return self._index.get(key)

    def find(self, key: str) -> int | None:
        """:meth:`row_of` for a key or two: by the index when it is built, else by one scan of the keys (an
        index is a dict of every key, worth building only for many look-ups)."""
        if self._index is not None:
            return self._index.get(key)
        keys, row = self.keys, -1
        try:
            while True:  # the last one, as the index has it (keys are distinct: one pass in all)
                row = keys.index(key, row + 1)
        except ValueError:
            return None if row < 0 else row

    def rows_of_type(self, code: int) -> RowArray:
        """Rows whose ``type`` code is ``code``, in batch order."""
        return np.flatnonzero(self.types == code)

    def column(self, name: str, is_float: bool = False, metric_type: MetricType = MetricType.GAUGE) -> ValueColumn:
        """The value column ``name``, created empty if absent."""
        found = self.values.get(name)
        if found is None:
            found = self.values[name] = ValueColumn.empty(len(self.keys), is_float, metric_type)
        return found

    def set_values(self, name: str, rows: RowArray, values: Array, metric_type: MetricType) -> None:
        """Set metric ``name`` of entity ``rows`` (creating the column as needed)."""
        self.column(name, values.dtype.kind == "f", metric_type).set(rows, values)

    def add_entities(self, new_keys: Sequence[str], labels: Sequence[dict[str, str]],
                     collection_start: Sequence[int] | None = None, create_time: Sequence[int] | None = None,
                     scrape_time: Sequence[int] | None = None) -> RowArray:
        """Append entities (times in ns, MISSING when unknown); returns their rows."""
        first = len(self.keys)
        count = len(new_keys)
        if self._index is not None:
            for offset, key in enumerate(new_keys):
                self._index[key] = first + offset
        self.keys.extend(new_keys)
        self.labels.extend(labels)
        self.types = np.concatenate([self.types, np.array([type_code(lb) for lb in labels], dtype=np.int8)])
        missing = [MISSING] * count
        self.collection_start = np.concatenate(
            [self.collection_start, np.array(collection_start or missing, dtype=np.int64)])
        self.create_time = np.concatenate([self.create_time, np.array(create_time or missing, dtype=np.int64)])
        self.scrape_time = np.concatenate([self.scrape_time, np.array(scrape_time or missing, dtype=np.int64)])
        size = len(self.keys)
        for column in self.values.values():
            pause()  # a column copied at a time (the processors add entities in their worker threads)
            column.grow(size)
        return np.arange(first, size, dtype=np.intp)

    # --- conversions -----------------------------------------------------------------------------------
    @classmethod
    def from_metric_sets(cls, sets: Mapping[str, MetricSet]) -> ColumnBatch:
        """Columns of Heapster-shaped metric sets."""
        builder = BatchBuilder()
        for key, ms in sets.items():
            row = builder.entity(key, dict(ms.labels), to_ns(ms.collection_start), to_ns(ms.create_time),
                                 to_ns(ms.scrape_time))
            for name, mv in ms.values.items():
                builder.value(row, name, mv.value, mv.metric_type)
            series, labels = -1, None
            for metric in ms.labeled:
                if series < 0 or metric.labels != labels:
                    series, labels = builder.series(row, dict(metric.labels)), metric.labels
                builder.labeled(series, metric.name, metric.value, metric.metric_type)
        return builder.build()

    def to_metric_sets(self) -> dict[str, MetricSet]:
        """Heapster's shape: one :class:`MetricSet` per entity (new objects, labels copied)."""
        sets = [MetricSet(dict(labels), {}, [], from_ns(start), from_ns(create), from_ns(scrape))
                for labels, start, create, scrape in zip(self.labels, self.collection_start.tolist(),
                                                         self.create_time.tolist(), self.scrape_time.tolist(),
                                                         strict=True)]
        for name, column in self.values.items():
            metric_type = column.metric_type
            for row, value in _cells(column):
                sets[row].values[name] = MetricValue(value, metric_type)
        if self.labeled:
            # Series by series (then metric by metric), as a source lists them.
            per_series: list[list[LabeledMetric]] = [[] for _ in self.series_labels]
            for name, column in self.labeled.items():
                metric_type = column.metric_type
                for series, value in _cells(column):
                    per_series[series].append(LabeledMetric(name, {}, value, metric_type))
            for entity, labels, metrics in zip(self.series_entity.tolist(), self.series_labels, per_series,
                                               strict=True):
                if metrics:
                    shared = dict(labels)
                    for metric in metrics:
                        metric.labels = shared
                    sets[entity].labeled.extend(metrics)
        return dict(zip(self.keys, sets, strict=True))

    @classmethod
    def concat(cls, parts: Iterable[ColumnBatch]) -> ColumnBatch:
        """One batch of ``parts`` in order; a key seen again replaces the earlier entity (dict semantics)."""
        parts = [part for part in parts if len(part)]
        pending = [part.builder for part in parts if type(part) is PendingBatch and part.builder is not None]
        if pending and len(pending) == len(parts):  # all unbuilt: one build for all (no per-part arrays)
            return BatchBuilder.merge(pending)
        if len(parts) == 1:
            return parts[0]
        out = cls()
        if not parts:
            return out
        for name in ("keys", "labels", "series_labels"):
            untrack(getattr(out, name))
        for part in parts:
            out.keys.extend(part.keys)
            out.labels.extend(part.labels)
            out.series_labels.extend(part.series_labels)
        offsets = np.cumsum([0] + [len(part) for part in parts])
        out.types = np.concatenate([part.types for part in parts])
        out.collection_start = np.concatenate([part.collection_start for part in parts])
        out.create_time = np.concatenate([part.create_time for part in parts])
        out.scrape_time = np.concatenate([part.scrape_time for part in parts])
        out.series_entity = np.concatenate([part.series_entity + offset
                                            for part, offset in zip(parts, offsets, strict=False)])
        out.values = _concat_columns([part.values for part in parts], [len(part) for part in parts])
        out.labeled = _concat_columns([part.labeled for part in parts], [part.series_count for part in parts])
        if len(set(out.keys)) != len(out.keys):
            out = out._without_repeats()
        return out

    def _without_repeats(self) -> ColumnBatch:
        last: dict[str, int] = {}
        for row, key in enumerate(self.keys):
            last[key] = row
        return self.select(np.array(sorted(last.values()), dtype=np.intp))

    def select(self, rows: RowArray) -> ColumnBatch:
        """A new batch of the entities ``rows`` (and their series), in that order."""
        out = ColumnBatch()
        picked = rows.tolist()
        out.keys = untrack([self.keys[r] for r in picked])
        out.labels = untrack([self.labels[r] for r in picked])
        out.types = self.types[rows]
        out.collection_start = self.collection_start[rows]
        out.create_time = self.create_time[rows]
        out.scrape_time = self.scrape_time[rows]
        out.values = {name: column.take(rows) for name, column in self.values.items()}
        new_row = np.full(len(self.keys), -1, dtype=np.int64)
        new_row[rows] = np.arange(len(rows))
        kept = np.flatnonzero(new_row[self.series_entity] >= 0) if self.series_count else np.empty(0, np.intp)
        out.series_entity = new_row[self.series_entity[kept]]
        out.series_labels = untrack([self.series_labels[s] for s in kept.tolist()])
        out.labeled = {name: column.take(kept) for name, column in self.labeled.items()}
        return out

    # --- reading, for sinks ---------------------------------------------------------------------------
    def metrics(self) -> Iterator[tuple[str, MetricType, list[int], list[int | float]]]:
        """Each metric once: ``(name, metric type, entity rows that have it, their values)``.

        Values are Python ints and floats (each keeps its own type); a row indexes :attr:`keys`
        and :attr:`labels`. The fast way for a sink to read a batch: one loop per metric.
        """
        for name, column in self.values.items():
            rows = np.flatnonzero(column.present())
            yield name, column.metric_type, rows.tolist(), column.values(rows)

    def labeled_metrics(self) -> Iterator[tuple[str, MetricType, list[int], list[int | float]]]:
        """Each labeled metric once: ``(name, metric type, series rows, their values)``.

        Series row ``s`` belongs to entity :attr:`series_entity` ``[s]`` and carries its own labels
        :attr:`series_labels` ``[s]`` (e.g. ``{"resource_id": "/"}``) besides the entity's.
        """
        for name, column in self.labeled.items():
            rows = np.flatnonzero(column.present())
            yield name, column.metric_type, rows.tolist(), column.values(rows)


def _cells(column: ValueColumn) -> Iterator[tuple[int, int | float]]:
    rows = np.flatnonzero(column.present())
    return zip(rows.tolist(), column.values(rows), strict=True)


def _concat_columns(tables: list[dict[str, ValueColumn]], sizes: list[int]) -> dict[str, ValueColumn]:
    names: dict[str, MetricType] = {}
    floats: set[str] = set()
    for table in tables:
        for name, column in table.items():
            names.setdefault(name, column.metric_type)
            if column.is_float:
                floats.add(name)
    out: dict[str, ValueColumn] = {}
    for name, metric_type in names.items():
        is_float = name in floats
        pieces = []
        columns = []
        for table, size in zip(tables, sizes, strict=True):
            found = table.get(name)
            if found is None:
                found = ValueColumn.empty(size, is_float, metric_type)
            elif is_float and not found.is_float:
                found = ValueColumn(found.data, found.metric_type)
                found.to_float()
            pieces.append(found.data)
            columns.append(found)
        mask = None
        if any(column.ints is not None for column in columns):  # int cells among floats: rare
            mask = np.concatenate([column.ints if column.ints is not None else np.zeros(size, dtype=bool)
                                   for column, size in zip(columns, sizes, strict=True)])
        out[name] = ValueColumn(np.concatenate(pieces), metric_type, mask if mask is not None and mask.any() else None)
    return out


Layout = tuple[tuple[str, MetricType], ...]
"""The metrics of an int block: (name, metric type) of each value of a row."""


class EntityTable:
    """A builder's whole entity table at once, as arrays (a source that kept it from an earlier batch).

    One table object stands for one entity table, keys included: a source adopts it again only with the same
    keys (:meth:`BatchBuilder.merge` trusts the same tables, in the same order, to give the keys it found
    distinct last time, and looks for repeated keys only when they change).
    ``series_entity`` may be of a narrower int type (a node's series name one of its ~100 rows): the join makes it
    int64.
    """

    __slots__ = ("collection_start", "create_time", "series_entity", "types")

    def __init__(self, types: npt.NDArray[np.int8], collection_start: IntArray, create_time: IntArray,
                 series_entity: npt.NDArray[np.signedinteger[Any]]) -> None:
        self.types = types
        self.collection_start = collection_start
        self.create_time = create_time
        self.series_entity = series_entity


class BatchBuilder:
    """Collects entities and values in plain lists, then makes a :class:`ColumnBatch` at C speed.

    Sources call :meth:`entity` once per metric set and :meth:`value` (or append directly to the
    lists of :meth:`appender`) once per value. A source that knows a whole entity table (keys, labels
    and the arrays of an :class:`EntityTable`) can :meth:`adopt` it and add only values and scrape times.
    """

    __slots__ = ("_blocks", "_columns", "_labeled", "_scrapes", "_table", "collection_start", "create_time", "keys",
                 "labels", "scrape_time", "series_entity", "series_labels", "unique_keys")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.labels: list[dict[str, str]] = []
        self.collection_start: list[int] = []
        self.create_time: list[int] = []
        self.scrape_time: list[int] = []
        self.series_entity: list[int] = []
        self.series_labels: list[dict[str, str]] = []
        self._columns: dict[str, tuple[list[int], list[int | float], MetricType]] = {}
        self._labeled: dict[str, tuple[list[int], list[int | float], MetricType]] = {}
        self._blocks: list[tuple[Layout, bool, list[int] | IntArray, IntArray | None]] = []
        self._table: EntityTable | None = None
        self._scrapes: IntArray | None = None
        self.unique_keys = False
        """True when the source knows its keys are distinct (then ``len`` of its lazy batch needs no build)."""

    def __len__(self) -> int:
        return len(self.keys)

    def adopt(self, keys: list[str], labels: list[dict[str, str]], table: EntityTable,
              series_labels: list[dict[str, str]]) -> None:
        """Take a whole entity table (the builder's own lists are not used for it)."""
        self.keys = keys
        self.labels = labels
        self.series_labels = series_labels
        self._table = table

    def entity(self, key: str, labels: dict[str, str], collection_start: int = MISSING, create_time: int = MISSING,
               scrape_time: int = MISSING) -> int:
        """Add one metric set (times in ns since the epoch); returns its row."""
        self.keys.append(key)
        self.labels.append(labels)
        self.collection_start.append(collection_start)
        self.create_time.append(create_time)
        self.scrape_time.append(scrape_time)
        return len(self.keys) - 1

    def appender(self, name: str, metric_type: MetricType) -> tuple[list[int], list[int | float]]:
        """The (rows, values) lists of metric ``name``: append a row and its value to both."""
        found = self._columns.get(name)
        if found is None:
            found = self._columns[name] = ([], [], metric_type)
        return found[0], found[1]

    def value(self, row: int, name: str, value: int | float, metric_type: MetricType) -> None:
        """Set metric ``name`` of entity ``row``."""
        rows, values = self.appender(name, metric_type)
        rows.append(row)
        values.append(value)

    def series(self, row: int, labels: Mapping[str, str]) -> int:
        """Add a labeled series of entity ``row``; returns the series row."""
        self.series_entity.append(row)
        self.series_labels.append(labels if isinstance(labels, dict) else dict(labels))
        return len(self.series_labels) - 1

    def labeled_appender(self, name: str, metric_type: MetricType) -> tuple[list[int], list[int | float]]:
        """The (series rows, values) lists of labeled metric ``name``."""
        found = self._labeled.get(name)
        if found is None:
            found = self._labeled[name] = ([], [], metric_type)
        return found[0], found[1]

    def labeled(self, series: int, name: str, value: int | float, metric_type: MetricType) -> None:
        """Set labeled metric ``name`` of ``series``."""
        rows, values = self.labeled_appender(name, metric_type)
        rows.append(series)
        values.append(value)

    def int_block(self, metrics: Layout, labeled: bool = False, rows: IntArray | None = None) -> list[int]:
        """A flat list for rows of int values: ``extend((row, v1, ..., vk))``, :data:`MISSING` for an absent value.

        ``metrics`` names the k metrics; with ``labeled`` the row is a series row. One ``extend`` per
        entity instead of one append per value, turned into columns by one ``numpy.fromiter`` call. With
        ``rows`` (the entity or series rows, known beforehand) the list holds the values only:
        ``extend((v1, ..., vk))`` for each of ``rows`` in turn.
        """
        values: list[int] = []
        self._blocks.append((metrics, labeled, values, rows))
        return values

    def int_values(self, metrics: Layout, values: IntArray, rows: IntArray) -> None:
        """An int block whose values are an int64 array already: ``len(rows)`` x k, row by row (as the list of
        :meth:`int_block` with ``rows``); no Python int per value."""
        self._blocks.append((metrics, False, values, rows))

    def build(self) -> ColumnBatch:
        """The batch of everything added."""
        return BatchBuilder.merge([self])

    def compact(self) -> None:
        """Turn the int blocks and scrape times into arrays now, while their values are in the CPU's caches,
        and free their Python ints (a window holds every node's part until the join); add nothing after."""
        if self._scrapes is None:
            self._scrapes = _ints(self.scrape_time)
            self._blocks = [(metrics, labeled, _ints(block), rows) for metrics, labeled, block, rows in self._blocks]
            self.scrape_time = []

    def int_arrays(self) -> list[IntArray]:
        """The values of every int block as arrays (:meth:`compact` first), in the order the blocks were made: for
        a source that checks them at C speed (:data:`MISSING` marks an absent value)."""
        self.compact()
        return [_ints(values) for _, _, values, _ in self._blocks]

    def lazy(self) -> ColumnBatch:
        """A batch of everything added (:meth:`compact` first), built when first read (:class:`PendingBatch`):
        :meth:`ColumnBatch.concat` of such batches builds them all at once, without joining arrays per column
        per part."""
        self.compact()
        return PendingBatch(self)

    @staticmethod
    def merge(builders: Sequence[BatchBuilder]) -> ColumnBatch:
        """``ColumnBatch.concat([b.build() for b in builders])`` built in one go: one array per column for all
        the builders instead of arrays per builder joined afterwards (the same batch, column order included)."""
        keys: list[str] = untrack([])  # the window's lists: the collector need not walk them (heapster.release)
        labels: list[dict[str, str]] = untrack([])
        series_labels: list[dict[str, str]] = untrack([])
        scrapes = []
        tables = []
        tables_given: list[EntityTable | None] = []  # the adopted ones (None: built from the builder's lists)
        sizes, series_sizes = [], []
        for index, b in enumerate(builders):
            if not index % PAUSE_EVERY:
                pause()  # a pause point for the API between parts of the join (it runs in a worker thread)
            keys += b.keys
            labels += b.labels
            series_labels += b.series_labels
            scrapes.append(b._scrapes if b._scrapes is not None else _ints(b.scrape_time))
            sizes.append(len(b.keys))
            series_sizes.append(len(b.series_labels))
            tables_given.append(b._table)
            tables.append(b._table if b._table is not None else _entity_table(b))
        offsets = np.cumsum([0, *sizes[:-1]], dtype=np.int64)
        series_offsets = np.cumsum([0, *series_sizes[:-1]], dtype=np.int64)
        pause()
        entity_array = _join([t.series_entity for t in tables], np.int64) + np.repeat(offsets, series_sizes)
        pause()
        columns = _merge_pending([b._columns for b in builders], offsets)
        pause()
        labeled_columns = _merge_pending([b._labeled for b in builders], series_offsets)
        # The blocks of one layout from every builder become one table.
        groups: dict[tuple[Layout, bool, bool], list[tuple[int, list[int] | IntArray, IntArray | None]]] = {}
        for index, b in enumerate(builders):
            if not index % PAUSE_EVERY:
                pause()
            for metrics, labeled, block, rows in b._blocks:
                if len(block):
                    groups.setdefault((metrics, labeled, rows is not None), []).append((index, block, rows))
        blocks = []
        presence = _Presence()
        for (metrics, labeled, given), found in groups.items():
            pause()
            rows_array, cells, room, counts = _group_cells(found, len(metrics), given)
            pause()
            owners = [index for index, _, _ in found]
            rows_array += np.repeat((series_offsets if labeled else offsets)[owners], counts)
            blocks.append((metrics, labeled, rows_array, cells, room))
            presence.add((metrics, labeled, given), cells, owners, counts)
        batch = ColumnBatch()
        size = len(keys)
        batch.keys = keys
        batch.labels = labels
        pause()
        batch.types = _join([t.types for t in tables], np.int8)
        batch.collection_start = _join([t.collection_start for t in tables], np.int64)
        pause()
        batch.create_time = _join([t.create_time for t in tables], np.int64)
        batch.scrape_time = _join(scrapes, np.int64)
        batch.series_entity = entity_array
        batch.series_labels = series_labels
        pause()
        batch.values = _build_columns(columns, size)
        pause()
        batch.labeled = _build_columns(labeled_columns, len(series_labels))
        for metrics, is_labeled, rows_array, cells, room in blocks:
            pause()
            _add_block(batch.labeled if is_labeled else batch.values, len(series_labels) if is_labeled else size,
                       metrics, rows_array, cells, room)
        if len(builders) > 1:  # the column order (and metric types) of concat: first seen, part by part
            batch.values = _in_part_order(batch.values, builders, presence, False)
            batch.labeled = _in_part_order(batch.labeled, builders, presence, True)
        if not (len(builders) == 1 and builders[0].unique_keys) and not _DISTINCT.known(tables_given):
            pause()
            if len(set(keys)) != size:
                return batch._without_repeats()
            _DISTINCT.remember(tables_given)
        return batch


class _DistinctTables:
    """The adopted entity tables of the last merge whose keys were all distinct: the same tables again, in the
    same order, have the same keys (see :class:`EntityTable`), so the set of a window's keys (about 13 ms at
    1000 nodes) is built only when a node's table changes."""

    __slots__ = ("tables",)

    def __init__(self) -> None:
        self.tables: list[EntityTable | None] = []

    def known(self, tables: list[EntityTable | None]) -> bool:
        return len(tables) == len(self.tables) and None not in tables and tables == self.tables

    def remember(self, tables: list[EntityTable | None]) -> None:
        self.tables = tables if None not in tables else []


_DISTINCT = _DistinctTables()


class _Presence:
    """Which metrics of a layout the blocks of one builder have a value for, worked out only for the builders
    asked about: the column order (:func:`_in_part_order`) stops at the first parts that have every metric,
    usually the first one, so a window's join no longer checks every cell of every block for it."""

    __slots__ = ("_groups",)

    def __init__(self) -> None:
        self._groups: dict[tuple[Layout, bool, bool], tuple[IntArray, list[int], list[int], list[int]]] = {}

    def add(self, key: tuple[Layout, bool, bool], cells: IntArray, owners: list[int], counts: list[int]) -> None:
        """The cells of one layout's blocks, the builder of each block (ascending) and its row count."""
        self._groups[key] = (cells, owners, counts, [])

    def of(self, key: tuple[Layout, bool, bool], owner: int) -> list[bool]:
        """For each metric of the layout, whether a block of builder ``owner`` has a value of it."""
        cells, owners, counts, starts = self._groups[key]
        if not starts:
            starts.extend(itertools.accumulate(counts, initial=0))
        first, last = bisect.bisect_left(owners, owner), bisect.bisect_right(owners, owner)
        there: list[bool] = (cells[starts[first]:starts[last]] != MISSING).any(axis=0).tolist()
        return there


def _entity_table(b: BatchBuilder) -> EntityTable:
    codes = TYPE_CODES
    types = [codes.get(lb.get("type", ""), 0) for lb in b.labels]
    return EntityTable(np.array(types, dtype=np.int8), np.fromiter(b.collection_start, np.int64, len(b.keys)),
                       np.fromiter(b.create_time, np.int64, len(b.keys)),
                       np.fromiter(b.series_entity, np.int64, len(b.series_entity)))


def _join(arrays: list[Array], dtype: type[np.generic]) -> Array:
    """One new array (never one of ``arrays``: an adopted table's stay unchanged)."""
    return np.concatenate(arrays).astype(dtype, copy=False)


_INT64_CODE = "l" if struct.calcsize("l") == 8 else "q"
"""``struct``'s code for an int64: the native ``long`` where it has 64 bits (Linux, macOS). The same bytes as ``q``
(``long long``), but CPython 3.11 converts an int of more than one 30-bit digit to a ``long`` by a loop over its
digits and to a ``long long`` through the generic ``_PyLong_AsByteArray``: packing a summary's ~1,900 ints takes
half the time (17 against 37 us for 1,950 ints in a micro-bench), and the same ``struct.error`` for values out of
int64 or not ints."""
_PACKERS: dict[int, struct.Struct] = {}
"""``struct.Struct(f"{n}l")`` (an int64 each, :data:`_INT64_CODE`) by ``n``: the int blocks of one node have the
same lengths every window."""
_MAX_PACKERS = 4096


def _ints(values: list[int] | IntArray) -> IntArray:
    """``values`` as an int64 array (OverflowError when one is out of int64).

    A list is packed by ``struct`` into a ``bytes`` that the array is a view of (read-only: every reader of an int
    block copies it into the joined columns): 186 instructions an int against 228 for ``numpy.fromiter`` (callgrind,
    1,900 ints of a summary's blocks), the same values; packing into ``bytes`` rather than into a new array's buffer
    skips numpy's buffer export per call (0.8% fewer instructions per steady summary decode, bench/README.md). Anything
    ``struct`` does not take (a value that is not an int, or out of range) goes through ``fromiter`` as before, which
    says what is wrong.
    """
    if isinstance(values, np.ndarray):
        return values
    size = len(values)
    packer = _PACKERS.get(size)
    if packer is None:
        if len(_PACKERS) >= _MAX_PACKERS:
            _PACKERS.clear()
        packer = _PACKERS[size] = struct.Struct(f"{size}{_INT64_CODE}")
    try:
        return np.frombuffer(packer.pack(*values), np.int64)
    except struct.error:
        return np.fromiter(values, np.int64, size)


def _group_cells(found: list[tuple[int, list[int] | IntArray, IntArray | None]], width: int,
                 given: bool) -> tuple[IntArray, IntArray, IntArray, list[int]]:
    """The rows, the (rows, k) cells, their (k, rows + :data:`GROW_SPARE`) matrix and each builder's row count of
    one layout's blocks.

    The cells are a transposed view of that matrix, filled block by block: :func:`_add_block` makes its columns of
    the matrix's rows without a copy, so a window's join holds the int values once (the parts' blocks aside)
    instead of a joined table and its transposed copy (measured, bench/window_peak.py: -3.5 MiB of the join's peak
    at 300 nodes); the spare cells behind each row let the columns grow without a copy (:meth:`ValueColumn.grow`).
    """
    stride = width if given else width + 1
    blocks = [_ints(block).reshape(-1, stride) for _, block, _ in found]
    counts = [len(block) for block in blocks]
    total = sum(counts)
    table = np.empty((stride, total + GROW_SPARE), dtype=np.int64)
    at = 0
    for index, block in enumerate(blocks):
        if not index % PAUSE_EVERY:
            pause()
        table[:, at:at + len(block)] = block.T
        at += len(block)
    if given:
        rows_array = np.concatenate([rows for _, _, rows in found if rows is not None]).astype(np.int64)
        return rows_array, table[:, :total].T, table, counts
    return table[0, :total].copy(), table[1:, :total].T, table[1:], counts


Pending = tuple[IntArray | list[int], list[int | float], MetricType]
"""The rows, values and type of a metric given value by value (:meth:`BatchBuilder.value`)."""


def _merge_pending(tables: list[dict[str, tuple[list[int], list[int | float], MetricType]]],
                   offsets: IntArray) -> dict[str, Pending]:
    """The value-by-value metrics of several builders as one, rows shifted by each builder's offset."""
    if len(tables) == 1:
        return dict(tables[0])
    out: dict[str, tuple[list[IntArray], list[int | float], MetricType]] = {}
    for index, (table, offset) in enumerate(zip(tables, offsets.tolist(), strict=True)):
        if not index % PAUSE_EVERY:
            pause()
        for name, (rows, values, metric_type) in table.items():
            found = out.get(name)
            if found is None:
                found = out[name] = ([], [], metric_type)
            found[0].append(np.array(rows, dtype=np.int64) + offset)
            found[1].extend(values)
    return {name: (np.concatenate(rows) if rows else np.empty(0, np.int64), values, metric_type)
            for name, (rows, values, metric_type) in out.items()}


def _in_part_order(columns: dict[str, ValueColumn], builders: Sequence[BatchBuilder],
                   presence: _Presence,
                   labeled: bool) -> dict[str, ValueColumn]:
    """``columns`` in the order (and with the metric types) that building each builder alone and joining
    the parts gives: a part's value-by-value metrics, then its blocks' metrics that it has, part by part."""
    order: dict[str, MetricType] = {}
    for index, b in enumerate(builders):
        if len(order) == len(columns):
            break
        for name, (_, _, metric_type) in (b._labeled if labeled else b._columns).items():
            order.setdefault(name, metric_type)
        for metrics, is_labeled, block, rows in b._blocks:
            if len(block) and is_labeled == labeled:
                there = presence.of((metrics, labeled, rows is not None), index)
                for (name, metric_type), present in zip(metrics, there, strict=True):
                    if present:
                        order.setdefault(name, metric_type)
    out = {}
    for name, metric_type in order.items():
        column = columns[name]
        column.metric_type = metric_type
        out[name] = column
    return out


class PendingBatch(ColumnBatch):
    """A :class:`ColumnBatch` whose arrays are made from its :class:`BatchBuilder` when first read.

    A source returns one per node (:meth:`BatchBuilder.lazy`); :meth:`ColumnBatch.concat` of such parts
    builds the whole window at once (:meth:`BatchBuilder.merge`) instead of arrays per node joined
    afterwards. Read or written like any batch, it builds itself first.
    """

    __slots__ = ("builder",)

    def __init__(self, builder: BatchBuilder) -> None:  # the ColumnBatch slots stay unset until built
        object.__setattr__(self, "builder", builder)

    def __del__(self) -> None:
        if self.builder is None:  # built (not built: no slot to read, and reading one would build it)
            super().__del__()

    def __len__(self) -> int:  # without building: the scheduler sizes the window before joining the parts
        builder = self.builder
        if builder is None:
            return len(self.keys)
        return len(builder.keys) if builder.unique_keys else len(set(builder.keys))

    def _build(self) -> None:
        builder = self.builder
        if builder is not None:
            built = builder.build()
            object.__setattr__(self, "builder", None)
            for name in ColumnBatch.__slots__:
                object.__setattr__(self, name, getattr(built, name))

    def __getattr__(self, name: str) -> Any:  # only called for an unset slot: the batch is not built yet
        if name in ColumnBatch.__slots__ and self.builder is not None:
            self._build()
            return getattr(self, name)
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._build()
        object.__setattr__(self, name, value)


def _build_columns(pending: Mapping[str, Pending], size: int) -> dict[str, ValueColumn]:
    out: dict[str, ValueColumn] = {}
    for name, (rows, values, metric_type) in pending.items():
        data = _as_array(values)
        column = ValueColumn.empty(size, data.dtype.kind == "f", metric_type)
        targets = np.asarray(rows, dtype=np.intp)
        column.data[targets] = data
        if column.is_float and any(type(v) is int for v in values):
            column.ints = np.zeros(size, dtype=bool)
            column.ints[targets[[type(v) is int for v in values]]] = True
        out[name] = column
    return out


def _add_block(columns: dict[str, ValueColumn], size: int, metrics: Layout, rows: IntArray, cells: IntArray,
               room: IntArray | None = None) -> None:
    """Scatter an int block (``cells[i]`` the k values of row ``rows[i]``) into columns: one matrix for all k
    metrics, not k arrays.

    A new column is a row of that matrix (a view), so a block costs a handful of numpy calls whatever k
    is; a column that already exists only gets the cells the block has. ``room``: the cells' own (k, rows + spare)
    matrix (``cells`` its transposed first columns), taken as the new columns' matrix when the block has every
    row in order.
    """
    width = len(metrics)
    there = cells != MISSING
    present = there.any(axis=0).tolist()
    matrix: IntArray | None = None
    for index, (name, metric_type) in enumerate(metrics):
        if not present[index]:
            continue
        column = columns.get(name)
        if column is None:
            if matrix is None:
                if room is not None and len(rows) == size and np.array_equal(rows, np.arange(size)):
                    matrix = room  # every row, in order (stats): the cells' own matrix, no copy
                else:
                    matrix = np.empty((width, size + GROW_SPARE), dtype=np.int64)  # spare cells: ValueColumn.grow
                    matrix[:, :size] = MISSING
                    matrix[:, rows] = cells.T
            columns[name] = ValueColumn.in_room(matrix[index], size, metric_type)
        else:
            mask = there[:, index]
            column.set(rows[mask], cells[mask, index])


Cell = tuple[int, str, MetricType, "int | float", "dict[str, str] | None"]
"""``(entity row, metric name, metric type, value, the labeled series' own labels or None)``."""


def cells_in_set_order(cols: ColumnBatch) -> list[Cell]:
    """Every value of the batch in the order of Heapster's per-set view (``to_metric_sets``): entity by
    entity, its values in column order, then its labeled series one by one (each in column order).

    For sinks whose output order follows the metric sets: read from the columns metric by metric (no
    ``MetricSet`` objects), then put in that order by one stable sort of the entity rows.
    """
    cells: list[Cell] = []
    order_keys: list[IntArray] = []
    span = cols.series_count + 1  # key: entity row * span + (0, or 1 + series row)
    for name, metric_type, rows, values in cols.metrics():
        cells.extend([(row, name, metric_type, value, None) for row, value in zip(rows, values, strict=True)])
        order_keys.append(np.array(rows, dtype=np.int64) * span)
    if cols.series_count:
        entities = cols.series_entity.tolist()
        series_keys = cols.series_entity.astype(np.int64) * span + np.arange(1, span, dtype=np.int64)
        own = cols.series_labels
        for name, metric_type, rows, values in cols.labeled_metrics():
            cells.extend([(entities[s], name, metric_type, value, own[s])
                          for s, value in zip(rows, values, strict=True)])
            order_keys.append(series_keys[np.array(rows, dtype=np.intp)])
    if not cells:
        return cells
    order = np.argsort(np.concatenate(order_keys), kind="stable").tolist()
    return [cells[i] for i in order]
