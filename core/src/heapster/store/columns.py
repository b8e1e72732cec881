"""Compact storage of many series: per metric, one value per row while it never changes, else blocks of time.

A column starts *constant*: one value per row (requests, limits, capacities and restart counts
rarely change), and a cell of slot ``s`` exists when the row's owner was in that slot's batch.
The first differing value, or a batch in which an owner lacks the metric, turns the column
*dense*: per block of ``BLOCK`` time slots a rows x ``BLOCK`` matrix. The blocks still written
(the head, see :class:`Blocks`) are plain numpy arrays; older ones are sealed into compressed
chunks (:mod:`heapster.store.chunks`), decoded only by the queries that read them, and dropped
whole when their slots expire.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Protocol

import numpy as np
import numpy.typing as npt

from heapster.model import MetricType
from heapster.store.chunks import (
    NAN_BITS,
    ORDER_SAMPLE,
    ROW_GROUP,
    Chunk,
    decode,
    decode_rows,
    encode_rows,
    order_of_sample,
    ratio_cells,
)

INT_MISSING = np.iinfo(np.int64).min
"""Marks an empty cell of an int column (float columns use NaN)."""
BLOCK = 8
"""Time slots per block (bench/README.md: 8 windows balance the plain head's size against the ratio)."""

Array = npt.NDArray[np.generic]
IntArray = npt.NDArray[np.int64]
IdArray = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]
Rows = npt.NDArray[np.integer] | slice
"""Rows of a block: an array of them, or a slice with a start and a stop."""


class Presence(Protocol):
    """Which owners were in which slot's batch (see :class:`heapster.store.owners.Owners`)."""

    def present(self, ids: npt.NDArray[np.integer] | int, slots: npt.NDArray[np.integer] | list[int] | int
                ) -> BoolArray: ...

    def present_rows(self, ids: npt.NDArray[np.integer], slots: int) -> BoolArray: ...

    def ever_present(self, ids: npt.NDArray[np.integer]) -> bool: ...


class Blocks:
    """Time slots in blocks of ``BLOCK``: slot ``s`` is position ``s % BLOCK`` of block ``s // BLOCK``.

    New batches fill the *head* block; once full, a free block becomes the head and, after the first
    batch is in it, the old head is sealed (with any older block a late batch reopened), so the newest
    slot is always plain. ``live`` are the blocks holding data, ``open`` those kept plain.
    """

    def __init__(self) -> None:
        self.count = 0
        self.live: set[int] = set()
        self.open: set[int] = set()
        self.head = -1
        self.fill = BLOCK

    @property
    def slots(self) -> int:
        return self.count * BLOCK


class Plain:
    """A block not yet sealed, one array per time slot (rows long): a slot no batch wrote holds nothing.

    The head block fills one slot per window, so on average it holds half its slots; a rows x ``BLOCK``
    matrix would hold all of them from the first window on. Once a batch is committed, its slot is kept
    *narrow* (:meth:`narrow`) when it can: as the differences of its cells from a prediction, in int8, int16 or
    int32, the type's least value marking a missing cell. Ints are predicted by the block's first slot (the
    *base*, kept whole) or, from the third slot on, by the line through the base and the second slot (a counter
    at a steady rate: its differences from the base grow with each slot, from the line they stay the scrape's
    jitter), whichever is narrower; their differences are shifted right by the trailing zero bits they all share
    (page- or block-aligned memory and file-system bytes). Floats are kept as the XOR of their bits with the
    base's (rates that stay zero, or unchanged, take a byte). An int base is kept as its values themselves when they
    are small (rates in millicores, counts, page-aligned bytes shifted; it depends on no other slot, so a write into
    the second slot leaves it narrow). The cells read are the same (prediction + difference,
    in int64's wrapping arithmetic, or XOR). The few cells of rows without a base cell (owners new in the block),
    or whose difference does not fit the type (a restart), are kept whole beside the slot (``extra``), up to
    one cell in 16. Measured (bench/README.md, session 9, storemem5: a slot narrowed to ~half, the daemon's head
    sawtooth at 300 nodes ~27 -> ~12 MiB; session 11, storemem7: the line, the shift and the floats; session 12,
    storemem8: the base).
    """

    __slots__ = ("coding", "dtype", "extra", "line", "missing", "rows", "slots")

    def __init__(self, rows: int, dtype: type[np.generic], missing: float | int) -> None:
        self.rows = rows
        self.dtype = dtype
        self.missing = missing
        self.slots: list[Array | None] = [None] * BLOCK
        self.extra: dict[int, tuple[npt.NDArray[np.intp], IntArray]] = {}
        """Per narrow slot with cells kept whole beside it: their rows (sorted) and their cells' bits."""
        self.coding: dict[int, tuple[bool, int, int]] = {}
        """Per narrow slot: whether it is predicted by the line (else by the base), its differences' shift, and the
        denominator of a float slot kept as numerators (0: none, the slot is its XORs with the base)."""
        self.line: bool | None = None
        """Whether the block's int slots are narrowed from the line (chosen once, at its third slot), else from the
        base."""

    @classmethod
    def of(cls, cells: Array, missing: float | int) -> Plain:
        """The block of a ``rows x BLOCK`` matrix (slots without any value hold nothing)."""
        plain = cls(len(cells), cells.dtype.type, missing)
        there = ~np.isnan(cells) if cells.dtype.kind == "f" else cells != missing
        for position in range(BLOCK):
            if there[:, position].any():
                plain.slots[position] = np.ascontiguousarray(cells[:, position])
        return plain

    @property
    def nbytes(self) -> int:
        held = sum(cells.nbytes for cells in self.slots if cells is not None)
        return held + sum(rows.nbytes + cells.nbytes for rows, cells in self.extra.values())

    def slot(self, position: int) -> Array:
        """The cells of one slot (a fresh empty array if the slot holds nothing; read only otherwise)."""
        cells = self._whole(position)
        return np.full(self.rows, self.missing, dtype=self.dtype) if cells is None else cells

    def cell(self, row: int, position: int) -> int | float:
        cells = self.slots[position]
        if cells is None:
            return self.missing
        if cells.dtype.type is self.dtype:
            value: int | float = cells[row].item()
            return value
        at = np.array([row], dtype=np.intp)
        found: int | float = self._widen(cells[at], position, at)[0].item()
        return found

    def take(self, rows: Rows, positions: list[int]) -> Array:
        """``len(rows) x len(positions)`` cells (``rows``: an array, or a slice with a start and a stop)."""
        count = rows.stop - rows.start if isinstance(rows, slice) else len(rows)
        out = np.full((count, len(positions)), self.missing, dtype=self.dtype)
        base: IntArray | None = None  # the base's bits of ``rows``, widened once for every narrow slot
        for index, position in enumerate(positions):
            cells = self.slots[position]
            if cells is None:
                continue
            if cells.dtype.type is self.dtype:
                out[:, index] = cells[rows]
                continue
            if position and base is None:
                base = self._base_bits(rows)
            out[:, index] = self._widen(cells[rows], position, rows, base)
        return out

    def write(self, rows: IdArray, position: int, values: Array) -> None:
        if position <= 1:
            self._widen_all(position)  # the base, or the line's second point, changes
            self.line = None
        cells = self._whole(position)
        if cells is None:
            cells = np.full(self.rows, self.missing, dtype=self.dtype)
        self._put(position, cells)
        cells[rows] = values

    def clear(self, position: int) -> None:
        """Empty one slot."""
        if position <= 1:
            self._widen_all(position)
            self.line = None
        self._put(position, None)

    def clear_rows(self, rows: IdArray) -> None:
        for cells in self.slots:
            if cells is not None:
                cells[rows] = self.missing if cells.dtype.type is self.dtype else _least(cells)
        for position, (held, values) in list(self.extra.items()):
            keep = ~np.isin(held, rows)
            self.extra[position] = (held[keep], values[keep])

    def matrix(self, rows: int) -> Array:
        """The first ``rows`` rows as a ``rows x BLOCK`` matrix (for sealing)."""
        out = np.full((rows, BLOCK), self.missing, dtype=self.dtype)
        base = self._wide_base()
        for position in range(BLOCK):
            cells = self._whole(position, base)
            if cells is not None:
                out[:, position] = cells[:rows]
        return out

    def resize(self, rows: int, used: int) -> None:
        """Hold ``rows`` rows, keeping the first ``used``."""
        for position, cells in enumerate(self.slots):
            if cells is not None:
                empty = self.missing if cells.dtype.type is self.dtype else _least(cells)
                grown = np.full(rows, empty, dtype=cells.dtype)
                grown[:used] = cells[:used]
                self.slots[position] = grown
        self.rows = rows

    def as_float(self) -> Plain:
        self._widen_all(0)
        plain = Plain(self.rows, np.float64, float("nan"))
        plain.slots = [None if cells is None else _as_float(cells) for cells in self.slots]
        return plain

    def narrow(self, position: int) -> None:
        """Keep a slot as its differences from the prediction that leaves them narrowest (see the class; the base
        of an int column as its values themselves), in the narrowest of int8, int16 and int32 they fit (each
        missing cell the type's least value); the cells of rows without a base cell, and those that fit no
        narrower type (at most one cell in 16 in all), beside it; left whole when that is no narrower."""
        cells = self.slots[position]
        if cells is None or cells.dtype.type is not self.dtype:
            return
        is_float = self.dtype is np.float64
        missing = NAN_BITS if is_float else int(INT_MISSING)
        bits = cells.view(np.int64)
        there = bits != missing
        denominator = 0
        line = False
        if position and self.slots[0] is None:
            return
        if is_float and (position == 0 or self._moves(bits)):
            # a float base, or a rate that changes (it takes all its mantissa: most XORs fit no type): exact ratios
            found = _ratio_steps(bits, there, len(cells) // 16)
            if found is None:
                return
            steps, denominator, orphans = found
            budget = len(cells) // 16 - int(np.count_nonzero(orphans))
            there &= ~orphans
        elif position == 0:  # an int base: its values, when they are small
            orphans = np.zeros(len(cells), dtype=bool)
            budget = len(cells) // 16
            steps = bits.copy()
        else:
            base_bits = self._base_bits(None)
            orphans = there & (base_bits == missing)
            budget = len(cells) // 16 - int(np.count_nonzero(orphans))
            if budget < 0:
                return
            there &= ~orphans
            sample = slice(None, None, SAMPLE_EVERY)
            if is_float or position < 2 or self.slots[1] is None:
                pass
            elif self.line is None:  # the line against the base, once a block, on a sample of the rows
                picked = np.arange(0, len(cells), SAMPLE_EVERY)
                line = self.line = _spread(bits[sample] - self._prediction(position, picked, True, base_bits[picked]),
                                           there[sample]) \
                    < _spread(bits[sample] - base_bits[sample], there[sample])
            else:
                line = self.line
            steps = bits ^ base_bits if is_float else bits - self._prediction(position, None, line, base_bits)
        steps[~there] = 0
        shift = 0
        if not is_float:
            common = int(np.bitwise_or.reduce(steps))
            shift = min((common & -common).bit_length() - 1, 62) if common else 0
            if shift:
                steps >>= shift
        fit = _fit(steps, budget)
        if fit is None:
            return
        kind, misfit = fit
        size = np.dtype(kind).itemsize * len(cells) + 16 * (0 if misfit is None else int(np.count_nonzero(misfit)))
        if size >= cells.nbytes:
            return
        narrow = steps.astype(kind)
        least = np.iinfo(kind).min
        narrow[~there] = least
        beside = orphans if misfit is None else orphans | misfit
        if misfit is not None:
            narrow[misfit] = least
        held = np.flatnonzero(beside)
        self.extra.pop(position, None)
        if len(held):
            self.extra[position] = (held, bits[held])
        self.slots[position] = narrow
        self.coding[position] = (line, shift, denominator)

    def _moves(self, bits: IntArray) -> bool:
        """Whether more than one in 16 of a float slot's cells differ from the base's, on a sample of the rows where
        both have one."""
        picked = np.arange(0, len(bits), SAMPLE_EVERY)
        cells, base = bits[picked], self._base_bits(picked)
        both = (cells != NAN_BITS) & (base != NAN_BITS)
        return int(np.count_nonzero(both & (cells != base))) * 16 > len(picked)

    def _put(self, position: int, cells: Array | None) -> None:
        """Hold whole ``cells`` (or nothing) in a slot."""
        self.slots[position] = cells
        self.extra.pop(position, None)
        self.coding.pop(position, None)

    def _base_bits(self, rows: Rows | None) -> IntArray:
        """The bits of the base's cells (of ``rows``, or all), widened if the base is narrow."""
        base = self.slots[0]
        assert base is not None  # a narrow slot has a base
        if base.dtype.type is self.dtype:
            bits: IntArray = base.view(np.int64)
            return bits if rows is None else bits[rows]
        return self._widen(base if rows is None else base[rows], 0, rows).view(np.int64)

    def _wide_base(self) -> IntArray | None:
        """The base's bits widened, when it is narrow (for several slots' widening at once), else None."""
        base = self.slots[0]
        return None if base is None or base.dtype.type is self.dtype else self._base_bits(None)

    def _prediction(self, position: int, rows: Rows | None, line: bool,
                    base: IntArray | None = None) -> IntArray:
        """The predicted bits of a slot's cells (of ``rows``, or all): the base's, or the line's through the base and
        the second slot (the base's where either has no cell). ``base``: the base's bits of those rows, if known."""
        if base is None:
            base = self._base_bits(rows)
        if not line:
            return base
        slope = self._slope(base, rows)
        slope *= position
        slope += base
        return slope

    def _slope(self, base: IntArray, rows: Rows | None) -> IntArray:
        """The second slot's cells minus the ``base`` cells (of ``rows``, or all) where both have one, else 0 (from a
        narrow second slot's differences directly)."""
        one = self.slots[1]
        assert one is not None  # a slot predicted by the line has a second slot
        if rows is not None:
            one = one[rows]
        if one.dtype.type is self.dtype:
            slope = one.view(np.int64) - base
            slope[(one == INT_MISSING) | (base == INT_MISSING)] = 0
            return slope
        slope = one.astype(np.int64)
        shift = self.coding.get(1, (False, 0, 0))[1]
        if shift:
            slope <<= shift
        slope[one == _least(one)] = 0
        extra = self.extra.get(1)
        if extra is not None and len(extra[0]):
            held, values = extra
            at, hit = (held, np.arange(len(held))) if rows is None else _held_in(held, rows)
            known = base[at] != INT_MISSING
            slope[at[known]] = values[hit[known]] - base[at[known]]
        return slope

    def _widen(self, steps: Array, position: int, rows: Rows | None = None,
               base: IntArray | None = None) -> Array:
        """Cells of slot ``position`` from their narrow differences (of ``rows``, or all; ``base``: the base's bits
        of those rows, if known)."""
        line, shift, denominator = self.coding.get(position, (False, 0, 0))
        if denominator:  # numerators of exact ratios
            ratios = steps.astype(np.float64)
            ratios /= denominator
            cells = ratios.view(np.int64)
            cells[steps == _least(steps)] = NAN_BITS
        elif self.dtype is np.float64:
            cells = steps.astype(np.int64)
            cells ^= self._prediction(position, rows, line, base)
            cells[steps == _least(steps)] = NAN_BITS
        else:
            cells = steps.astype(np.int64)
            if shift:
                cells <<= shift
            if position:  # the base is kept as its values
                cells += self._prediction(position, rows, line, base)
            cells[steps == _least(steps)] = INT_MISSING
        extra = self.extra.get(position)
        if extra is not None:
            held, values = extra
            if rows is None:
                cells[held] = values
            elif len(held):
                at, hit = _held_in(held, rows)
                cells[at] = values[hit]
        return cells.view(self.dtype)

    def _whole(self, position: int, base: IntArray | None = None) -> Array | None:
        """The cells of a slot as int64 or float64 (a new array for a narrow slot), or None (``base``: the base's
        bits, if known)."""
        cells = self.slots[position]
        if cells is None or cells.dtype.type is self.dtype:
            return cells
        return self._widen(cells, position, None, base if position else None)

    def _widen_all(self, first: int) -> None:
        """Every slot from ``first`` on whole (the base, kept as its values, depends on no other slot)."""
        base = self._wide_base()
        whole = [self._whole(position, base) for position in range(first, BLOCK)]
        for position, cells in enumerate(whole, first):
            self._put(position, cells)


def _held_in(held: npt.NDArray[np.intp], rows: Rows) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Which of ``rows`` are among the sorted ``held`` rows: their places in ``rows`` and in ``held``."""
    if isinstance(rows, slice):
        first, last = np.searchsorted(held, [rows.start, rows.stop]).tolist()
        return held[first:last] - rows.start, np.arange(first, last)
    found = np.minimum(np.searchsorted(held, rows), len(held) - 1)
    hit = held[found] == rows
    return np.flatnonzero(hit), found[hit]


SAMPLE_EVERY = 16
"""One row in this many is looked at to choose how a head slot is narrowed."""


def _spread(steps: IntArray, there: BoolArray) -> int:
    """The largest magnitude of the differences of the cells there."""
    found = np.abs(steps[there])
    return int(found.max()) if len(found) else 0


def _ratio_steps(bits: IntArray, there: BoolArray, budget: int) -> tuple[IntArray, int, BoolArray] | None:
    """A float slot's cells as numerators of exact ratios to one denominator (:func:`chunks.ratio_cells`), the
    denominator and the cells there that are none (to keep beside: None past ``budget`` of them)."""
    numerators, exact, denominator = ratio_cells(bits)
    inexact = there & ~exact
    if int(np.count_nonzero(inexact)) > budget:
        return None
    return numerators, denominator, inexact


def _fit(steps: IntArray, budget: int) -> tuple[type[np.signedinteger], BoolArray | None] | None:
    """The narrowest int type all ``steps`` fit (above its least value, which marks a missing cell), or the
    narrowest all but at most ``budget`` of them fit, with those (None if neither)."""
    low, high = int(steps.min()), int(steps.max())
    kinds: tuple[type[np.signedinteger], ...] = (np.int8, np.int16, np.int32)
    for kind in kinds:
        limits = np.iinfo(kind)
        if limits.min < low and high <= limits.max:
            return kind, None
    if budget <= 0:
        return None
    for kind in kinds:
        limits = np.iinfo(kind)
        misfit = (steps <= limits.min) | (steps > limits.max)
        if int(np.count_nonzero(misfit)) <= budget:
            return kind, misfit
    return None


def _least(cells: Array) -> int:
    """The least value of a narrow slot's int type: its missing cells."""
    return int(np.iinfo(cells.dtype.name).min)


_NO_ROWS: IdArray = np.empty(0, dtype=np.int32)
_NO_ROWS.flags.writeable = False


SEAL_ROWS = 32 * ROW_GROUP
"""Rows of a plain block widened at a time when it is sealed (a multiple of ``ROW_GROUP``)."""


def _grow(size: int, needed: int) -> int:
    return max(needed, size + size // 2, 16)


class Column:
    """All values of one metric: row ``r`` is one series (its owner is ``owner_of[r]``).

    Rows are handed out on first write and returned to a free list when their owner expires (an
    expired owner has no value in any slot still retained, so a reused row starts empty);
    ``row_of[owner]`` is -1 for owners without a row. Ints are stored as int64 and floats as
    float64; a float arriving in an int column turns the column into floats.

    Columns written for the same owners hand out the same rows: :func:`share_row_maps` lets them hold one
    pair of ``row_of``/``owner_of`` arrays, which a column copies before it changes them (``shared_maps``).
    """

    __slots__ = ("blocks", "chunks", "const", "dense", "free", "is_float", "job_rows", "maps_changed", "merged",
                 "metric_type", "owner_of", "owners", "row_of", "shared_maps", "used")

    def __init__(self, is_float: bool, metric_type: MetricType, blocks: Blocks, owners: Presence) -> None:
        self.is_float = is_float
        self.metric_type = metric_type
        self.blocks = blocks
        self.owners = owners
        self.const: Array | None = np.empty(0, dtype=self.dtype)
        self.dense: dict[int, Plain] = {}
        """Plain blocks of a dense column."""
        self.chunks: dict[int, list[Chunk]] = {}
        """Sealed blocks of a dense column, ``ROW_GROUP`` rows per chunk."""
        self.owner_of: IdArray = np.empty(0, dtype=np.int32)
        self.row_of: IdArray = np.empty(0, dtype=np.int32)
        self.free: list[int] = []
        self.used = 0
        self.job_rows: list[IdArray] = []
        self.merged: IdArray | None = None
        """While a batch merges into a slot that holds one: the rows the slot had a value for already."""
        self.shared_maps = False
        """``row_of`` and ``owner_of`` may be another column's too (read only: copied before a change)."""
        self.maps_changed = True
        """The row maps changed since :func:`share_row_maps` last looked."""

    @property
    def dtype(self) -> type[np.generic]:
        return np.float64 if self.is_float else np.int64

    @property
    def missing(self) -> float | int:
        return float("nan") if self.is_float else int(INT_MISSING)

    @property
    def capacity(self) -> int:
        return len(self.owner_of)

    @property
    def is_constant(self) -> bool:
        """One value per row (no matrix)."""
        return self.const is not None

    @property
    def nbytes(self) -> int:
        """Bytes of the values (row maps not included: columns may share them)."""
        held = self.const.nbytes if self.const is not None else 0
        held += sum(block.nbytes for block in self.dense.values())
        return held + sum(chunk.nbytes for chunks in self.chunks.values() for chunk in chunks)

    def present(self, values: Array) -> BoolArray:
        """Which of ``values`` (taken from this column) hold a value."""
        mask: BoolArray = ~np.isnan(values) if self.is_float else values != INT_MISSING
        return mask

    def row(self, owner: int) -> int:
        """The row of ``owner``, or -1."""
        return int(self.row_of[owner]) if owner < len(self.row_of) else -1

    # --- reading -----------------------------------------------------------------------------------
    def cells(self, row: int, slots: list[int]) -> Array:
        """The cells of one row in ``slots`` (missing where there is no value)."""
        if self.const is not None:
            there = self.owners.present(int(self.owner_of[row]), slots)
            return np.where(there, self.const[row], self.missing).astype(self.dtype)
        out = np.full(len(slots), self.missing, dtype=self.dtype)
        group, offset = divmod(row, ROW_GROUP)
        for index, slot in enumerate(slots):
            block, position = divmod(slot, BLOCK)
            plain = self.dense.get(block)
            if plain is not None:
                out[index] = plain.cell(row, position)
                continue
            chunks = self.chunks.get(block)
            if chunks is not None and group < len(chunks) and offset < chunks[group].rows:
                out[index] = decode(chunks[group])[offset, position]
        return out

    def rows_cells(self, rows: npt.NDArray[np.int64], slots: list[int]) -> Array:
        """The cells of ``rows`` in ``slots``, a ``len(rows) x len(slots)`` matrix; each chunk decoded once."""
        if self.const is not None:
            there = self.owners.present(self.owner_of[rows][:, None], slots)
            return np.where(there, self.const[rows][:, None], self.missing).astype(self.dtype)
        out = np.full((len(rows), len(slots)), self.missing, dtype=self.dtype)
        by_block: dict[int, tuple[list[int], list[int]]] = {}
        for index, slot in enumerate(slots):
            columns, positions = by_block.setdefault(slot // BLOCK, ([], []))
            columns.append(index)
            positions.append(slot % BLOCK)
        groups, offsets = np.divmod(rows, ROW_GROUP)
        single = len(rows) == 1  # a one-series query: its one chunk per block, no masks
        in_groups = [int(groups[0])] if single else np.unique(groups).tolist()
        offset = int(offsets[0]) if single else 0
        for block, (columns, positions) in by_block.items():
            plain = self.dense.get(block)
            if plain is not None:
                out[:, columns] = plain.take(rows, positions)
                continue
            chunks = self.chunks.get(block)
            if chunks is None:
                continue
            for group in in_groups:
                if group >= len(chunks):
                    continue
                chunk = chunks[group]
                if single:
                    if offset < chunk.rows:
                        out[0, columns] = decode(chunk)[offset, positions]
                    continue
                picked = np.flatnonzero((groups == group) & (offsets < chunk.rows))
                out[picked[:, None], columns] = decode(chunk)[offsets[picked][:, None], positions]
        return out

    def has_value(self, row: int, slots: list[int]) -> bool:
        """Whether the row holds a value in any of ``slots`` (newest blocks first; stops at the first)."""
        if self.const is not None:
            return bool(self.present(self.cells(row, slots)).any())
        by_block: dict[int, list[int]] = {}
        for slot in reversed(slots):
            by_block.setdefault(slot // BLOCK, []).append(slot)
        return any(self.present(self.cells(row, found)).any() for found in by_block.values())

    def slot_cells(self, slot: int) -> Array:
        """The cells of every allocated row in one slot."""
        if self.const is not None:
            owners = self.owner_of[: self.used]
            there = (owners >= 0) & self.owners.present(np.maximum(owners, 0), slot)
            return np.where(there, self.const[: self.used], self.missing).astype(self.dtype)
        block, position = divmod(slot, BLOCK)
        plain = self.dense.get(block)
        if plain is not None:
            return plain.slot(position)[: self.used]
        chunks = self.chunks.get(block, [])
        return decode_rows(chunks, self.used, BLOCK, self.missing, self.dtype)[:, position]

    # --- writing -----------------------------------------------------------------------------------
    def begin(self, slot: int, merging: bool) -> None:
        """A new batch will be written into ``slot`` (``merging``: the slot already holds one).

        A constant column stays constant through a merge: the rows the slot has values for keep them (as a
        dense column's cells do), and :meth:`finish` checks that every owner present then has a value.
        """
        self.job_rows = []
        self.merged = None
        if self.const is None:
            plain = self._plain(slot // BLOCK)
            if not merging:
                plain.clear(slot % BLOCK)
        elif merging:
            owners = self.owner_of[: self.used]
            there = (owners >= 0) & self.owners.present(np.maximum(owners, 0), slot)
            self.merged = np.flatnonzero(there).astype(np.int32)

    def reserve(self, owners: IdArray) -> None:
        """Rows for ``owners`` ahead of their first values, empty (the store's :meth:`MetricStore.prepare`)."""
        _, fresh = self._rows_for(owners)
        if self.const is not None:
            self.const[fresh] = self.missing

    def write(self, owners: IdArray, values: Array, slot: int, looked_up: RowLookups | None = None) -> None:
        """Store ``values[i]`` for ``owners[i]`` in ``slot``, allocating rows as needed (``looked_up``: the rows
        other columns of the same write found for the same ``owners`` array, see :class:`RowLookups`)."""
        if values.dtype.kind == "f" and not self.is_float:
            self._to_float()
        rows, fresh = self._rows_for(owners, looked_up)
        self._put(rows, fresh, values, slot)

    def write_parts(self, owners: IdArray, values: Array, slot: int, part: int,
                    looked_up: RowLookups | None = None) -> Iterator[None]:
        """:meth:`write` in parts of ``part`` cells, yielding between two parts (the caller's lock is let go).

        The same cells, rows and column state as one :meth:`write`: every row is found (and any new one allocated)
        first, in one call (rows are handed out in owner order), with one write's handling of new rows; then each
        part is checked against the constant values (turning the column dense keeps the parts written before) and
        written. ``owners`` must be distinct, as for one write.
        """
        if len(owners) <= part:
            self.write(owners, values, slot, looked_up)
            return
        if values.dtype.kind == "f" and not self.is_float:
            self._to_float()
        written_before = len(self.job_rows)
        rows, fresh = self._rows_for(owners, looked_up)
        if self.const is not None and len(fresh):
            self.const[fresh] = self.missing
            if self.owners.ever_present(self.owner_of[fresh]):
                self._densify(slot, fresh)  # as one write: the new rows get no past
        for first in range(0, len(owners), part):
            if first:
                yield
            self._put(rows[first:first + part], _NO_ROWS, values[first:first + part], slot)
        if self.const is not None and not written_before and len(self.job_rows) > 1:
            self.job_rows = [np.concatenate(self.job_rows)]  # one write's distinct rows: finish counts them

    def _put(self, rows: IdArray, fresh: IdArray, values: Array, slot: int) -> None:
        """:meth:`write`'s part after the rows are found: ``fresh`` are the rows just allocated for it."""
        if self.const is None:
            self.dense[slot // BLOCK].write(rows, slot % BLOCK, values)
            return
        if len(fresh):
            self.const[fresh] = self.missing
            if self.owners.ever_present(self.owner_of[fresh]):
                # An owner that was in earlier batches without this metric: those cells must stay empty.
                self._densify(slot, fresh)
                self.dense[slot // BLOCK].write(rows, slot % BLOCK, values)
                return
        known = self.const[rows]
        if known.dtype == values.dtype and (known.view(np.int64) == values.view(np.int64)).all():
            self.job_rows.append(rows)  # every cell already holds these very bits (the steady state): no write
            return
        is_set = self.present(known)
        if not ((known == values) | ~is_set).all():
            self._densify(slot)
            self.dense[slot // BLOCK].write(rows, slot % BLOCK, values)
            return
        self.const[rows] = values
        self.job_rows.append(rows)

    def finish(self, slot: int, counted: dict[tuple[int, int], tuple[IdArray, int]] | None = None) -> None:
        """After the batch's owners are marked present: stay constant only if each present owner got a value.

        ``counted``: the present owners' count by row map (``id(owner_of)``, rows used) for the other columns of
        the same finish (the row map held beside its count); a column written once (the usual) needs only it."""
        if self.const is None or not self.used:
            self.merged = None
            return
        if self.merged is None and len(self.job_rows) == 1 and counted is not None:
            mark = (id(self.owner_of), self.used)
            found = counted.get(mark)
            if found is None:
                found = counted[mark] = (self.owner_of, int(np.count_nonzero(self._expected(slot))))
            if len(self.job_rows[0]) != found[1]:  # one write: distinct owners
                self._densify(slot)
            self.job_rows = []
            return
        expected = self._expected(slot)
        if self.merged is not None:
            have = np.zeros(self.used, dtype=bool)
            have[self.merged] = True
            if self.job_rows:
                have[np.concatenate(self.job_rows)] = True
            complete = not (expected & ~have).any()
        elif len(self.job_rows) == 1:
            complete = len(self.job_rows[0]) == int(np.count_nonzero(expected))  # one write: distinct owners
        else:
            written = len(sorted_unique(np.concatenate(self.job_rows))) if self.job_rows else 0
            complete = written == int(np.count_nonzero(expected))
        if not complete:
            self._densify(slot)
        self.job_rows = []
        self.merged = None

    def _expected(self, slot: int) -> BoolArray:
        """Which rows (of those used) belong to an owner present in ``slot``."""
        owners = self.owner_of[: self.used]
        expected: BoolArray = (owners >= 0) & self.owners.present(np.maximum(owners, 0), slot)
        return expected

    def narrow(self, slot: int) -> None:
        """Keep the cells of a written slot narrow where they fit (:meth:`Plain.narrow`); values unchanged."""
        plain = self.dense.get(slot // BLOCK)
        if plain is not None:
            plain.narrow(slot % BLOCK)

    def compressed(self, block: int) -> list[Chunk] | None:
        """The chunks of a plain block (its rows up to ``used``), or None; the column is unchanged.

        The block is widened :data:`SEAL_ROWS` rows at a time, its order of differences chosen on its sampled rows
        first: the same chunks as from its whole matrix (``rows x BLOCK`` cells: 11 MiB for a column of 170,000
        series at once, beside the head, at the window that seals)."""
        plain = self.dense.get(block)
        if plain is None:
            return None
        used = self.used
        positions = list(range(BLOCK))
        order = order_of_sample(plain.take(np.arange(0, used, ORDER_SAMPLE), positions))
        chunks: list[Chunk] = []
        for first in range(0, used, SEAL_ROWS):
            chunks += encode_rows(plain.take(slice(first, min(first + SEAL_ROWS, used)), positions), order)
        return chunks

    def seal(self, block: int, chunks: list[Chunk] | None = None) -> None:
        """Replace a plain block by its chunks (``chunks`` made by :meth:`compressed` if not given)."""
        if chunks is None:
            chunks = self.compressed(block)
        if chunks is not None:
            self.chunks[block] = chunks
            self.dense.pop(block, None)

    def drop(self, block: int) -> None:
        """Forget a block whose slots all expired."""
        self.dense.pop(block, None)
        self.chunks.pop(block, None)

    def release(self, owners: IdArray) -> None:
        """Return the rows of expired ``owners`` to the free list."""
        known = owners[owners < len(self.row_of)]
        if not len(known):
            return
        rows = self.row_of[known]
        held = rows >= 0
        if not held.any():
            return
        rows = rows[held]
        self._own_maps()
        self.row_of[known[held]] = -1
        self.owner_of[rows] = -1
        self.free.extend(rows.tolist())

    # --- internals ---------------------------------------------------------------------------------
    def _own_maps(self) -> None:
        """Row maps of this column's own, before it changes them (another column may hold the same arrays)."""
        if self.shared_maps:
            self.row_of = self.row_of.copy()
            self.owner_of = self.owner_of.copy()
            self.shared_maps = False
        self.maps_changed = True

    def _plain(self, block: int) -> Plain:
        """The plain block ``block``: decoded if it was sealed, empty if new."""
        plain = self.dense.get(block)
        if plain is None:
            chunks = self.chunks.pop(block, None)
            if chunks is None:
                plain = Plain(self.capacity, self.dtype, self.missing)
            else:
                plain = Plain.of(decode_rows(chunks, self.capacity, BLOCK, self.missing, self.dtype), self.missing)
            self.dense[block] = plain
        return plain

    def _densify(self, slot: int, new_rows: IdArray | None = None) -> None:
        """Turn into blocks: past slots from presence, the current slot from the rows written so far.

        ``new_rows`` have no past: their owners' earlier presence is not theirs.
        """
        assert self.const is not None
        owners = self.owner_of
        known = owners >= 0
        there = np.zeros((self.capacity, self.blocks.slots), dtype=bool)
        there[known] = self.owners.present_rows(owners[known], self.blocks.slots)
        there[:, slot] = False
        if new_rows is not None:
            there[new_rows] = False
        if self.merged is not None:
            there[self.merged, slot] = True  # the cells the slot had before a merge
        if self.job_rows:
            there[np.concatenate(self.job_rows), slot] = True
        const = self.const[:, None]
        blocks = self.blocks
        for block in blocks.live | {slot // BLOCK}:
            cells = np.where(there[:, block * BLOCK: (block + 1) * BLOCK], const, self.missing).astype(self.dtype)
            if block in blocks.open or block == slot // BLOCK:
                self.dense[block] = Plain.of(cells, self.missing)
            else:
                self.chunks[block] = encode_rows(cells[: self.used])
        self.const = None
        self.job_rows = []

    def _to_float(self) -> None:
        self.is_float = True
        if self.const is not None:
            self.const = _as_float(self.const)
            return
        for block, plain in self.dense.items():
            self.dense[block] = plain.as_float()
        for block, chunks in self.chunks.items():
            ints = decode_rows(chunks, self.used, BLOCK, int(INT_MISSING), np.int64)
            self.chunks[block] = encode_rows(_as_float(ints))

    def _rows_for(self, owners: IdArray, looked_up: RowLookups | None = None) -> tuple[IdArray, IdArray]:
        """The rows of ``owners`` and the rows newly allocated for them (taken from ``looked_up`` when a column
        holding the same row map found them for the same ``owners`` array)."""
        if looked_up is not None:
            rows = looked_up.get(self.row_of, owners)
            if rows is not None:
                return rows, _NO_ROWS
        top = int(owners.max()) + 1 if len(owners) else 0
        if top > len(self.row_of):
            grown = np.full(_grow(len(self.row_of), top), -1, dtype=np.int32)
            grown[: len(self.row_of)] = self.row_of
            self.row_of = grown
            self.maps_changed = True
        rows = self.row_of[owners]
        new = rows < 0
        fresh: IdArray = _NO_ROWS
        if new.any():
            if looked_up is not None:
                looked_up.clear()  # a row map changes (in place if this column's own)
            fresh = self._allocate(sorted_unique(owners[new]))
            rows = self.row_of[owners]
        elif looked_up is not None:
            looked_up.keep(self.row_of, owners, rows)
        return rows, fresh

    def _allocate(self, owners: IdArray) -> IdArray:
        count = len(owners)
        self._own_maps()
        reused = [self.free.pop() for _ in range(min(count, len(self.free)))]
        fresh = count - len(reused)
        if self.used + fresh > self.capacity:
            size = _grow(self.capacity, self.used + fresh)
            owner_of = np.full(size, -1, dtype=np.int32)
            owner_of[: self.used] = self.owner_of[: self.used]
            self.owner_of = owner_of
            for plain in self.dense.values():
                plain.resize(size, self.used)
            if self.const is not None:
                const = np.full(size, self.missing, dtype=self.const.dtype)
                const[: self.used] = self.const[: self.used]
                self.const = const
        rows = np.array(reused + list(range(self.used, self.used + fresh)), dtype=np.int32)
        self.used += fresh
        for plain in self.dense.values():
            plain.clear_rows(rows)
        self.row_of[owners] = rows
        self.owner_of[rows] = owners
        return rows


class RowLookups:
    """The rows found for an owners array in a row map, kept for the other columns of one store write that hold the
    same map (shared by :func:`share_row_maps`) and get the same owners array: most columns of a batch have the
    same entities and, at the steady state, the same rows, so the look-up (a gather over every owner) is done
    once per (map, owners) pair instead of once per column.

    Valid while no row map changes in place: a column that allocates rows clears it. The arrays are held (not
    only their ids), so an id is never reused while it is a key.
    """

    __slots__ = ("_found",)

    def __init__(self) -> None:
        self._found: dict[tuple[int, int], tuple[IdArray, IdArray, IdArray]] = {}

    def get(self, row_of: IdArray, owners: IdArray) -> IdArray | None:
        """The rows kept for this very ``row_of`` and ``owners`` pair, or None."""
        found = self._found.get((id(row_of), id(owners)))
        return None if found is None else found[2]

    def keep(self, row_of: IdArray, owners: IdArray, rows: IdArray) -> None:
        """Remember ``rows`` (``row_of[owners]``, every one allocated; made read only: columns share it)."""
        rows.flags.writeable = False
        self._found[(id(row_of), id(owners))] = (row_of, owners, rows)

    def clear(self) -> None:
        """Forget every look-up (a row map is about to change)."""
        self._found.clear()


def share_row_maps(columns: list[Column], step_cpu: float) -> Iterator[None]:
    """Let columns whose row maps are equal hold one pair of arrays (yields once ``step_cpu`` seconds of
    comparisons are spent).

    Most columns are written for the same owners in the same order (every container, pod and node has its
    cpu, memory, network ... values), so they hand out the same rows: ~40 columns, ~6 distinct maps. Only
    the maps changed since the last call (new or expired owners) are compared, so a steady store pays
    nothing. Measured (bench/README.md, session 8, storemem4): row maps 0.028 -> 0.006 MiB per node.
    """
    changed = [column for column in columns if column.maps_changed]
    if not changed:
        return
    kept: dict[tuple[int, int, int], list[Column]] = {}
    seen: set[int] = set()
    for column in columns:
        if not column.maps_changed and id(column.owner_of) not in seen:
            seen.add(id(column.owner_of))
            kept.setdefault((len(column.row_of), len(column.owner_of), column.used), []).append(column)
    due = time.thread_time() + step_cpu
    compared = False
    for column in changed:
        if compared and time.thread_time() >= due:
            yield
            due = time.thread_time() + step_cpu
            compared = False
        column.maps_changed = False
        like = kept.setdefault((len(column.row_of), len(column.owner_of), column.used), [])
        for other in like:
            compared = True
            if other.owner_of is column.owner_of or (np.array_equal(other.owner_of, column.owner_of)
                                                     and np.array_equal(other.row_of, column.row_of)):
                column.row_of, column.owner_of = other.row_of, other.owner_of
                column.shared_maps = other.shared_maps = True
                break
        else:
            like.append(column)


def sorted_unique(ids: IdArray) -> IdArray:
    """The distinct values of ``ids``, sorted: ``np.unique`` by a sort.

    numpy 2.4's ``np.unique`` (no index, inverse or counts asked) goes through a hash set that is 20-30 times
    slower on many distinct ints and holds the GIL meanwhile (measured, 1.5 million distinct int32: 2.2 s against
    74 ms for a sort; the scrape thread stalled up to 216 ms at a time). The store's first write takes it once per
    column over every owner: at 5000 nodes about 17 s of a cold write that starved the next windows' scrapes.
    """
    ordered = np.sort(ids)
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def _as_float(cells: Array) -> Array:
    floats = cells.astype(np.float64)
    floats[cells == INT_MISSING] = np.nan
    return floats
