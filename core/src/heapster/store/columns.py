"""Compact storage of many series: one numpy matrix (rows x time slots) per metric, rows reused."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from heapster.model import MetricType

INT_MISSING = np.iinfo(np.int64).min
"""Marks an empty cell of an int column (float columns use NaN)."""

Array = npt.NDArray[np.generic]
IntArray = npt.NDArray[np.int64]
IdArray = npt.NDArray[np.int32]


def _grow(size: int, needed: int) -> int:
    return max(needed, size + size // 2, 16)


class Column:
    """All values of one metric: row ``r`` is one series (its owner is ``owner_of[r]``), column ``s`` a slot.

    Rows are handed out on first write and returned to a free list when their owner expires;
    ``row_of[owner]`` is -1 for owners without a row. Ints are stored as int64 and floats as
    float64; a float arriving in an int column turns the column into floats.
    """

    __slots__ = ("data", "free", "is_float", "metric_type", "owner_of", "row_of", "used")

    def __init__(self, is_float: bool, metric_type: MetricType, slots: int) -> None:
        self.is_float = is_float
        self.metric_type = metric_type
        self.data: Array = np.empty((0, slots), dtype=np.float64 if is_float else np.int64)
        self.owner_of: IdArray = np.empty(0, dtype=np.int32)
        self.row_of: IdArray = np.empty(0, dtype=np.int32)
        self.free: list[int] = []
        self.used = 0

    @property
    def missing(self) -> float | int:
        return float("nan") if self.is_float else int(INT_MISSING)

    def present(self, values: Array) -> npt.NDArray[np.bool_]:
        """Which of ``values`` (taken from this column) hold a value."""
        mask: npt.NDArray[np.bool_] = ~np.isnan(values) if self.is_float else values != INT_MISSING
        return mask

    def row(self, owner: int) -> int:
        """The row of ``owner``, or -1."""
        return int(self.row_of[owner]) if owner < len(self.row_of) else -1

    def write(self, owners: IdArray, values: Array, slot: int) -> None:
        """Store ``values[i]`` for ``owners[i]`` in ``slot``, allocating rows as needed."""
        if values.dtype.kind == "f" and not self.is_float:
            self._to_float()
        rows = self._rows_for(owners)
        self.data[rows, slot] = values

    def clear_slot(self, slot: int) -> None:
        """Empty one slot of every row."""
        if self.used:
            self.data[: self.used, slot] = self.missing

    def add_slots(self, count: int) -> None:
        """Append ``count`` empty slots."""
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

    def _to_float(self) -> None:
        data = self.data.astype(np.float64)
        data[self.data == INT_MISSING] = np.nan
        self.data = data
        self.is_float = True

    def _rows_for(self, owners: IdArray) -> IdArray:
        top = int(owners.max()) + 1 if len(owners) else 0
        if top > len(self.row_of):
            grown = np.full(_grow(len(self.row_of), top), -1, dtype=np.int32)
            grown[: len(self.row_of)] = self.row_of
            self.row_of = grown
        rows = self.row_of[owners]
        new = rows < 0
        if new.any():
            self._allocate(np.unique(owners[new]))
            rows = self.row_of[owners]
        return rows

    def _allocate(self, owners: IdArray) -> None:
        count = len(owners)
        reused = [self.free.pop() for _ in range(min(count, len(self.free)))]
        fresh = count - len(reused)
        if self.used + fresh > self.data.shape[0]:
            size = _grow(self.data.shape[0], self.used + fresh)
            data = np.full((size, self.data.shape[1]), self.missing, dtype=self.data.dtype)
            data[: self.used] = self.data[: self.used]
            self.data = data
            owner_of = np.full(size, -1, dtype=np.int32)
            owner_of[: self.used] = self.owner_of[: self.used]
            self.owner_of = owner_of
        rows = np.array(reused + list(range(self.used, self.used + fresh)), dtype=np.int32)
        self.used += fresh
        self.data[rows] = self.missing
        self.row_of[owners] = rows
        self.owner_of[rows] = owners
