"""Rate calculator (HEAPSTER.md §5.1): cumulative counters -> per-second rates and ``cpu/usage_rate``."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import structlog

from heapster.catalogue import RATE_MAPPING
from heapster.columns import MISSING, ColumnBatch, IntArray, RowArray, ValueColumn, to_ns
from heapster.interfaces import ColumnProcessor
from heapster.model import DataBatch, MetricType
from heapster.pausepoint import pause
from heapster.release import untrack

log = structlog.get_logger(__name__)

CPU_USAGE = "cpu/usage"
CPU_USAGE_RATE = "cpu/usage_rate"
LABELED_RATES = {name: RATE_MAPPING[name] for name in ("disk/io_read_bytes", "disk/io_write_bytes")}
VALUE_RATES = {name: rate for name, rate in RATE_MAPPING.items() if name not in LABELED_RATES}
RESOURCE_ID = "resource_id"

_GAUGE = MetricType.GAUGE
_Mask = npt.NDArray[np.bool_]


class RateCalculator(ColumnProcessor):
    """Derives rates from the previous sample of each metric set.

    Unlike Heapster, state is kept per metric set rather than as one previous batch, so batches
    that arrive out of order or overlap never corrupt it: a sample only replaces an older one.
    A counter that went backwards or a changed collection start time (a restart) yields no rate,
    never a negative one. A sample whose batch is more than ``max_gap`` seconds older than the newest
    batch is forgotten once that newest batch has been processed, so a rate can still span up to
    ``max_gap`` plus one resolution (the sample was within ``max_gap`` of the batch before).

    The state is columnar: each metric set key has a slot, and the previous batch time, scrape
    time, collection start and counters are arrays indexed by slot, so a batch is one gather,
    a few vectorized comparisons and one scatter per counter. A key's slot is found by the key's
    ``hash`` in a sorted array (:class:`_HashIndex`), not a dict: at 1000 nodes the dict of ~95,000 keys
    and its Python ints took ~6.3 KiB per node, the two arrays 1.5.
    """

    name = "rate calculator"

    def __init__(self, max_gap: float = 600.0) -> None:
        self.max_gap_ns = int(max_gap * 1e9)
        self._index = _HashIndex()
        self._keys: list[str | None] = []
        self._free: list[int] = []
        self._batch: IntArray = np.empty(0, dtype=np.int64)
        self._scrape: IntArray = np.empty(0, dtype=np.int64)
        self._start: IntArray = np.empty(0, dtype=np.int64)
        self._counters: dict[str, ValueColumn] = {}
        self._labeled: dict[int, dict[tuple[str, str], Any]] = {}
        self._newest_batch_ns = MISSING
        self._last_keys: list[str | None] = []
        self._last_slots: RowArray = np.empty(0, dtype=np.intp)
        self._in_order = False
        """The last batch's keys and their slots (the same keys again: no look-up per key), and whether those
        slots are ``0..n-1`` (then the state is read and written by slices, without gathering)."""

    def primed(self) -> None:
        """Forget the priming batch's samples (slots and key order stay): the first window gets no rates."""
        self._scrape[:] = MISSING

    def apply(self, batch: DataBatch) -> None:
        """Add the rates to ``batch`` in place and remember its counters."""
        cols = batch.columns
        batch_ns = to_ns(batch.timestamp)
        slots = self._slots_of(cols.keys)
        size = len(cols)
        in_order = self._in_order  # slots 0..size-1: the state's first ``size`` cells are the batch's rows
        scrape = cols.scrape_time
        old_scrape = self._scrape[:size] if in_order else self._scrape[slots]
        # A set without a scrape time, or an older or repeated sample, gives neither a rate nor newer state.
        newer = (scrape != MISSING) & (scrape > old_scrape)
        rated = newer & (old_scrape != MISSING) & (
            (self._start[:size] if in_order else self._start[slots]) == cols.collection_start)
        rows = np.flatnonzero(rated)
        backwards = np.zeros(size, dtype=bool)
        if len(rows):
            every = len(rows) == size  # every row rated (the steady state): whole columns, no gathering
            elapsed = scrape - old_scrape if every else scrape[rows] - old_scrape[rows]
            for name, rate_name in VALUE_RATES.items():
                pause()
                self._add_rate(cols, name, rate_name, rows, slots if every else slots[rows], elapsed, backwards,
                               every and in_order)
        if self._labeled or LABELED_RATES.keys() & cols.labeled.keys():
            self._labeled_rates(cols, slots, newer, rated, backwards)
        self._remember(cols, slots, np.flatnonzero(newer), batch_ns)
        resets = int(np.count_nonzero(backwards))
        if resets:
            log.debug("rates.counter_reset", sets=resets)
        if batch_ns > self._newest_batch_ns:
            self._newest_batch_ns = batch_ns
            self._forget_before(batch_ns - self.max_gap_ns)

    def _add_rate(self, cols: ColumnBatch, name: str, rate_name: str, rows: RowArray, slots: RowArray,
                  elapsed: IntArray, backwards: _Mask, aligned: bool = False) -> None:
        """The rates of counter ``name`` for ``rows`` (at ``slots``); ``aligned``: ``rows`` are every row and
        ``slots`` are ``0..n-1`` (the arrays are then sliced, not gathered)."""
        column = cols.values.get(name)
        previous = self._counters.get(name)
        if column is None or previous is None:
            return
        every = len(rows) == len(cols)
        current = column.data if every else column.data[rows]
        before = previous.data[:len(rows)] if aligned else previous.data[slots]
        ok = _present(current) & _present(before)
        delta = current - before  # garbage (never read) where a side is missing
        up = ok & (delta >= 0)
        down = ok & (delta < 0)
        if down.any():
            backwards[rows[down]] = True
        if not up.any():
            return
        delta, spent, target = delta[up], elapsed[up], rows[up]
        rate: npt.NDArray[Any]
        if name == CPU_USAGE:
            rate = (1000 * delta) // spent
            if rate.dtype.kind == "f":
                rate = rate.astype(np.int64)
        else:
            rate = 1e9 * delta / spent
        cols.set_values(rate_name, target, rate, _GAUGE)

    def _labeled_rates(self, cols: ColumnBatch, slots: RowArray, newer: _Mask, rated: _Mask,
                       backwards: _Mask) -> None:
        """The rare labeled counters (disk I/O per device), set by set as Heapster did."""
        samples: dict[int, dict[tuple[str, str], Any]] = {}
        entity_of = cols.series_entity.tolist()
        for name in LABELED_RATES:
            column = cols.labeled.get(name)
            if column is None:
                continue
            for series in np.flatnonzero(column.present()).tolist():
                row = entity_of[series]
                if newer[row]:
                    resource = cols.series_labels[series].get(RESOURCE_ID, "")
                    samples.setdefault(row, {})[(name, resource)] = (series, column.data[series].item())
        for row in np.flatnonzero(rated).tolist():
            new, old = samples.get(row), self._labeled.get(int(slots[row]))
            if not new or not old:
                continue
            elapsed = int(cols.scrape_time[row]) - int(self._scrape[slots[row]])
            for (name, resource), (series, value) in new.items():
                before = old.get((name, resource))
                if before is None:
                    continue
                delta = value - before
                if delta < 0:
                    backwards[row] = True
                    continue
                rate = np.array([1e9 * delta / elapsed])
                cols.labeled.setdefault(LABELED_RATES[name], ValueColumn.empty(cols.series_count, True, _GAUGE))
                cols.labeled[LABELED_RATES[name]].set(np.array([series]), rate)
        for row in np.flatnonzero(newer).tolist():
            sample = samples.get(row)
            slot = int(slots[row])
            if sample:
                self._labeled[slot] = {ident: value for ident, (_, value) in sample.items()}
            else:
                self._labeled.pop(slot, None)

    def _remember(self, cols: ColumnBatch, slots: RowArray, rows: RowArray, batch_ns: int) -> None:
        if not len(rows):
            return
        target: RowArray | slice = slots[rows]
        if self._in_order and len(rows) == len(cols):
            target = slice(0, len(rows))  # the same cells, written by a slice
            rows = slice(None)  # type: ignore[assignment]
        self._batch[target] = batch_ns
        self._scrape[target] = cols.scrape_time[rows]
        self._start[target] = cols.collection_start[rows]
        for name in VALUE_RATES:
            pause()
            column = cols.values.get(name)
            previous = self._counters.get(name)
            if column is None:
                if previous is not None:
                    previous.data[target] = np.nan if previous.is_float else MISSING
                continue
            if previous is None:
                previous = self._counters[name] = ValueColumn.empty(len(self._scrape), column.is_float,
                                                                    MetricType.CUMULATIVE)
            previous.set(target, column.data[rows])  # type: ignore[arg-type]

    def _slots_of(self, keys: list[str]) -> RowArray:
        """The slot of each key: known keys in one C-level pass, new ones given a slot in batch order (the last
        batch's keys again: its slots, after one comparison of the lists, pointer by pointer for the same
        strings)."""
        if len(keys) == len(self._last_keys) and keys == self._last_keys:
            return self._last_slots
        slots = self._look_up(keys)
        self._last_slots = slots
        self._in_order = bool(len(slots) and slots[0] == 0 and slots[-1] == len(slots) - 1
                              and np.array_equal(slots, np.arange(len(slots))))
        # Slots 0..n-1 of n slots: the slots' own key list is the batch's keys (no copy; it changes only when a
        # slot is given or freed, and freeing one drops the last keys first).
        self._last_keys = (self._keys if self._in_order and len(self._keys) == len(keys)
                           else untrack(list(keys)))  # untracked: kept to the next batch, no walk by the collector
        return slots

    def _forget_last_keys(self) -> None:
        """Drop the last batch's keys and their slots together: an emptied key list alone would equal an empty
        batch's keys, which would then be given the last batch's slots."""
        self._last_keys = []
        self._last_slots = np.empty(0, dtype=np.intp)
        self._in_order = False

    def _look_up(self, keys: list[str]) -> RowArray:
        hashes = np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys))
        out = self._index.find(keys, hashes, self._keys)
        new = np.flatnonzero(out < 0).tolist()
        if not new:
            return out
        self._reserve(len(self._keys) + max(0, len(new) - len(self._free)))
        added: dict[str, int] = {}  # a key twice among the new ones: one slot
        for index in new:
            key = keys[index]
            slot = added.get(key)
            if slot is None:
                slot = added[key] = self._new_slot(key)
            out[index] = slot
        self._index.add(np.fromiter(map(hash, added), dtype=np.int64, count=len(added)),
                        np.fromiter(added.values(), dtype=np.intp, count=len(added)))
        return out

    def _new_slot(self, key: str) -> int:
        if self._free:
            slot = self._free.pop()
            self._keys[slot] = key
            return slot
        slot = len(self._keys)
        self._keys.append(key)
        self._reserve(slot + 1)
        return slot

    def _reserve(self, slots: int) -> None:
        """Room for ``slots`` slots in the state arrays: when they must grow, to an eighth more than asked (a
        batch's new keys are counted before they get slots, so the first batch's state fits it closely; doubling
        left up to half of it empty: at 1000 nodes ~95,000 slots in 131,072, ~3 MB of ten arrays)."""
        if slots <= len(self._scrape):
            return
        size = max(1024, slots + slots // 8)
        for attr in ("_batch", "_scrape", "_start"):
            old = getattr(self, attr)
            grown = np.full(size, MISSING, dtype=np.int64)
            grown[: len(old)] = old
            setattr(self, attr, grown)
        for column in self._counters.values():
            column.grow(size)

    def _forget_before(self, cutoff_ns: int) -> None:
        stale = np.flatnonzero((self._batch != MISSING) & (self._batch < cutoff_ns))
        if not len(stale):
            return
        self._forget_last_keys()  # their slots may be handed out again
        self._index.drop(stale)
        for slot in stale.tolist():
            self._keys[slot] = None
            self._labeled.pop(slot, None)
            self._free.append(slot)
        for array in (self._batch, self._scrape, self._start):
            array[stale] = MISSING
        for column in self._counters.values():
            column.data[stale] = np.nan if column.is_float else MISSING


class _HashIndex:
    """The slot of each key that has one, found by the key's ``hash``: the hashes sorted in one int64 array, each
    one's slot at the same place in another (16 bytes a key; a dict took ~66 with its Python ints). A hash found is
    checked against the slot's key (``keys``, by slot), so keys of equal hashes each find their own slot."""

    __slots__ = ("hashes", "slots")

    def __init__(self) -> None:
        self.hashes: IntArray = np.empty(0, dtype=np.int64)
        self.slots: RowArray = np.empty(0, dtype=np.intp)

    def find(self, keys: list[str], hashes: IntArray, slot_keys: list[str | None]) -> RowArray:
        """The slot of each of ``keys`` (their ``hashes``), -1 for a key without one."""
        out = np.full(len(keys), -1, dtype=np.intp)
        known = self.hashes
        if not len(known) or not len(keys):
            return out
        order = np.argsort(hashes)  # searched in order: a third of the time of searching them as they come
        at = np.empty(len(hashes), dtype=np.intp)
        at[order] = np.searchsorted(known, hashes[order])
        np.minimum(at, len(known) - 1, out=at)
        hit = np.flatnonzero(known[at] == hashes)
        if not len(hit):
            return out
        slots = self.slots[at[hit]]
        found = list(map(slot_keys.__getitem__, slots.tolist()))
        wanted = keys if len(hit) == len(keys) else list(map(keys.__getitem__, hit.tolist()))
        if found == wanted:  # one C-level comparison (pointer checks for the very strings)
            out[hit] = slots
            return out
        for index, slot, key, there in zip(hit.tolist(), slots.tolist(), wanted, found, strict=True):
            out[index] = slot if key == there else self._among_equal(key, int(hashes[index]), slot_keys)
        return out

    def _among_equal(self, key: str, hashed: int, slot_keys: list[str | None]) -> int:
        """The slot of ``key`` among the keys of hash ``hashed`` (-1: none): the rare other key of the same hash."""
        first = int(np.searchsorted(self.hashes, hashed, side="left"))
        end = int(np.searchsorted(self.hashes, hashed, side="right"))
        for slot in self.slots[first:end].tolist():
            if slot_keys[slot] == key:
                return int(slot)
        return -1

    def add(self, hashes: IntArray, slots: RowArray) -> None:
        """Index new keys (their ``hashes``) at ``slots``."""
        order = np.argsort(hashes, kind="stable")
        hashes, slots = hashes[order], slots[order]
        at = np.searchsorted(self.hashes, hashes)
        self.hashes = np.insert(self.hashes, at, hashes)
        self.slots = np.insert(self.slots, at, slots)

    def drop(self, slots: RowArray) -> None:
        """Forget the keys at ``slots``."""
        kept = ~np.isin(self.slots, slots)
        self.hashes, self.slots = self.hashes[kept], self.slots[kept]


def _present(values: npt.NDArray[Any]) -> _Mask:
    mask: _Mask = ~np.isnan(values) if values.dtype.kind == "f" else values != MISSING
    return mask
