"""Compact storage of many series: per metric, one value per row while it never changes, else a matrix.

A column starts *constant*: one value per row (requests, limits, capacities and restart counts
rarely change), and a cell of slot ``s`` exists when the row's owner was in that slot's batch.
The first differing value, or a batch in which an owner lacks the metric, turns the column
*dense*: a numpy matrix of rows x time slots.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from heapster.model import MetricType

INT_MISSING = np.iinfo(np.int64).min
"""Marks an empty cell of an int column (float columns use NaN)."""

Array = npt.NDArray[np.generic]
IntArray = npt.NDArray[np.int64]
IdArray = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]


class Presence(Protocol):
    """Which owners were in which slot's batch (``present[owner, slot]``)."""

    present: BoolArray


def _grow(size: int, needed: int) -> int:
    return max(needed, size + size // 2, 16)


class Column:
    """All values of one metric: row ``r`` is one series (its owner is ``owner_of[r]``).

    Rows are handed out on first write and returned to a free list when their owner expires;
    ``row_of[owner]`` is -1 for owners without a row. Ints are stored as int64 and floats as
    float64; a float arriving in an int column turns the column into floats.
    """

    __slots__ = ("const", "data", "free", "is_float", "job_rows", "metric_type", "owner_of", "owners", "row_of",
                 "slots", "used")

    def __init__(self, is_float: bool, metric_type: MetricType, slots: int, owners: Presence) -> None:
        self.is_float = is_float
        self.metric_type = metric_type
        self.slots = slots
        self.owners = owners
        self.const: Array | None = np.empty(0, dtype=self.dtype)
        self.data: Array | None = None
        self.owner_of: IdArray = np.empty(0, dtype=np.int32)
        self.row_of: IdArray = np.empty(0, dtype=np.int32)
        self.free: list[int] = []
        self.used = 0
        self.job_rows: list[IdArray] = []

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
    def nbytes(self) -> int:
        held = self.data if self.data is not None else self.const
        return (held.nbytes if held is not None else 0) + self.row_of.nbytes + self.owner_of.nbytes

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
        if self.data is not None:
            return self.data[row, slots]
        assert self.const is not None
        there = self.owners.present[self.owner_of[row], slots]
        return np.where(there, self.const[row], self.missing).astype(self.dtype)

    def slot_cells(self, slot: int) -> Array:
        """The cells of every allocated row in one slot."""
        if self.data is not None:
            return self.data[: self.used, slot]
        assert self.const is not None
        owners = self.owner_of[: self.used]
        there = (owners >= 0) & self.owners.present[np.maximum(owners, 0), slot]
        return np.where(there, self.const[: self.used], self.missing).astype(self.dtype)

    # --- writing -----------------------------------------------------------------------------------
    def begin(self, slot: int, merging: bool) -> None:
        """A new batch will be written into ``slot`` (``merging``: the slot already holds one)."""
        self.job_rows = []
        if self.data is not None:
            if not merging:
                self.data[: self.used, slot] = self.missing
        elif merging:
            self._densify(slot)

    def write(self, owners: IdArray, values: Array, slot: int) -> None:
        """Store ``values[i]`` for ``owners[i]`` in ``slot``, allocating rows as needed."""
        if values.dtype.kind == "f" and not self.is_float:
            self._to_float()
        rows, fresh = self._rows_for(owners)
        if self.data is not None:
            self.data[rows, slot] = values
            return
        assert self.const is not None
        if len(fresh):
            self.const[fresh] = self.missing
            if self.owners.present[self.owner_of[fresh]].any():
                # An owner that was in earlier batches without this metric: those cells must stay empty.
                self._densify(slot, fresh)
                assert self.data is not None
                self.data[rows, slot] = values
                return
        known = self.const[rows]
        is_set = self.present(known)
        if not ((known == values) | ~is_set).all():
            self._densify(slot)
            assert self.data is not None
            self.data[rows, slot] = values
            return
        self.const[rows] = values
        self.job_rows.append(rows)

    def finish(self, slot: int) -> None:
        """After the batch's owners are marked present: stay constant only if each present owner got a value."""
        if self.data is not None or not self.used:
            return
        owners = self.owner_of[: self.used]
        expected = int(np.count_nonzero((owners >= 0) & self.owners.present[np.maximum(owners, 0), slot]))
        if len(self.job_rows) == 1:
            written = len(self.job_rows[0])  # one write per batch: its owners are distinct
        else:
            written = len(np.unique(np.concatenate(self.job_rows))) if self.job_rows else 0
        if written != expected:
            self._densify(slot)
        self.job_rows = []

    def add_slots(self, count: int) -> None:
        """Append ``count`` empty slots."""
        self.slots += count
        if self.data is not None:
            extra = np.full((self.data.shape[0], count), self.missing, dtype=self.data.dtype)
            self.data = np.concatenate([self.data, extra], axis=1)

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
        self.row_of[known[held]] = -1
        self.owner_of[rows] = -1
        self.free.extend(rows.tolist())

    # --- internals ---------------------------------------------------------------------------------
    def _densify(self, slot: int, new_rows: IdArray | None = None) -> None:
        """Turn into a matrix: past slots from presence, the current slot from the rows written so far.

        ``new_rows`` have no past: their owners' earlier presence is not theirs.
        """
        assert self.const is not None
        owners = self.owner_of
        known = owners >= 0
        there = np.zeros((self.capacity, self.slots), dtype=bool)
        there[known] = self.owners.present[owners[known]][:, : self.slots]
        there[:, slot] = False
        if new_rows is not None:
            there[new_rows] = False
        if self.job_rows:
            there[np.concatenate(self.job_rows), slot] = True
        self.data = np.where(there, self.const[:, None], self.missing).astype(self.dtype)
        self.const = None
        self.job_rows = []

    def _to_float(self) -> None:
        self.is_float = True
        if self.data is not None:
            data = self.data.astype(np.float64)
            data[self.data == INT_MISSING] = np.nan
            self.data = data
        else:
            assert self.const is not None
            const = self.const.astype(np.float64)
            const[self.const == INT_MISSING] = np.nan
            self.const = const

    def _rows_for(self, owners: IdArray) -> tuple[IdArray, IdArray]:
        top = int(owners.max()) + 1 if len(owners) else 0
        if top > len(self.row_of):
            grown = np.full(_grow(len(self.row_of), top), -1, dtype=np.int32)
            grown[: len(self.row_of)] = self.row_of
            self.row_of = grown
        rows = self.row_of[owners]
        new = rows < 0
        fresh: IdArray = np.empty(0, dtype=np.int32)
        if new.any():
            fresh = self._allocate(np.unique(owners[new]))
            rows = self.row_of[owners]
        return rows, fresh

    def _allocate(self, owners: IdArray) -> IdArray:
        count = len(owners)
        reused = [self.free.pop() for _ in range(min(count, len(self.free)))]
        fresh = count - len(reused)
        if self.used + fresh > self.capacity:
            size = _grow(self.capacity, self.used + fresh)
            owner_of = np.full(size, -1, dtype=np.int32)
            owner_of[: self.used] = self.owner_of[: self.used]
            self.owner_of = owner_of
            if self.data is not None:
                data = np.full((size, self.slots), self.missing, dtype=self.data.dtype)
                data[: self.used] = self.data[: self.used]
                self.data = data
            else:
                assert self.const is not None
                const = np.full(size, self.missing, dtype=self.const.dtype)
                const[: self.used] = self.const[: self.used]
                self.const = const
        rows = np.array(reused + list(range(self.used, self.used + fresh)), dtype=np.int32)
        self.used += fresh
        if self.data is not None:
            self.data[rows] = self.missing
        self.row_of[owners] = rows
        self.owner_of[rows] = owners
        return rows
