"""Registries of what series belong to: metric-set keys, and (key, labels) pairs of labeled metrics."""

from __future__ import annotations

import sys
from collections.abc import Hashable, Mapping
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from heapster.store.columns import BLOCK, INT_MISSING, BoolArray, IdArray, IntArray

LabelTuple = tuple[str, ...]
"""Labels flattened as ``(k1, v1, k2, v2, ...)`` of interned strings."""


def label_tuple(labels: Mapping[str, str], *, ordered: bool = False) -> LabelTuple:
    """Flatten ``labels`` into an interned tuple; sorted by key when ``ordered`` (for exact matching)."""
    items = sorted(labels.items()) if ordered else labels.items()
    out: list[str] = []
    for key, value in items:
        out.append(sys.intern(key))
        out.append(sys.intern(value) if isinstance(value, str) else str(value))
    return tuple(out)


_FREED = np.iinfo(np.int64).max
"""``last_seen`` of a freed id."""

L = TypeVar("L")
"""What an owner's labels are held as: the label dict given (entities), or a :data:`LabelTuple` (series)."""


def label_dict(labels: LabelTuple) -> dict[str, str]:
    """The dict of a flattened label tuple."""
    return dict(zip(labels[::2], labels[1::2], strict=True))


class Owners(Generic[L]):
    """Integer ids for series owners, reused after they expire.

    ``last_seen[id]`` is the newest batch timestamp (ns) that had the owner, ``labels[id]``
    its latest labels (``empty`` once expired) and ``start[id]`` its latest collection start (ns, or INT_MISSING).
    Owners are found by ``ident`` in ``ids``; unless ``keyed`` is false: the caller then keeps its own index
    (the store's series index), ``add`` always registers a new owner, and no Python object is kept per owner
    but its labels. Only keyed owners (metric sets) have idents, starts and label stamps; only unkeyed ones
    (labeled series) have a ``parent``: the arrays an owner does not use stay empty (measured, bench/README.md,
    session 11, storemem7: 24 bytes and two list slots per labeled series).
    """

    def __init__(self, slots: int, empty: L, keyed: bool = True) -> None:
        assert BLOCK == 8 and slots % BLOCK == 0  # one byte of presence bits per block
        self.present_bits: npt.NDArray[np.uint8] = np.zeros((0, slots // BLOCK), dtype=np.uint8)
        """Bit ``slot % 8`` of ``present_bits[id, slot // 8]``: the owner was in the batch of that slot (a
        bool per owner and slot would take 8 times the bytes)."""
        self.keyed = keyed
        self.ids: dict[Hashable, int] = {}
        self.ident: list[Hashable | None] = []
        """Each id's ident (True for a live owner when not ``keyed``), None once expired."""
        self.empty = empty
        self.labels: list[L] = []
        self.stamp: IntArray = np.zeros(0, dtype=np.int64)
        """A hash of the labels as last given (per id), to notice changes with one array comparison."""
        self.given: list[object] = []
        """The label object last given per id (held, so its ``id`` stays its own): label sets are shared
        between batches, so the same object again means the same labels, without hashing them."""
        self.given_id: IntArray = np.zeros(0, dtype=np.int64)
        """``id`` of ``given[id]`` (0 for none), for one array comparison per batch."""
        self.parent: IdArray = np.empty(0, dtype=np.int32)
        """The metric set of each labeled series (unkeyed owners only)."""
        self.last_seen: IntArray = np.empty(0, dtype=np.int64)
        self.start: IntArray = np.empty(0, dtype=np.int64)
        self._free: list[int] = []
        self._count = 0
        """Ids handed out (live or free)."""

    def __len__(self) -> int:
        return self._count - len(self._free)

    def alive(self) -> list[int]:
        """The ids of the live owners, in order."""
        if self.keyed:
            return [oid for oid, ident in enumerate(self.ident) if ident is not None]
        return np.flatnonzero(self.last_seen[: self._count] != _FREED).tolist()

    def get(self, ident: Hashable) -> int | None:
        """The id of ``ident`` if known."""
        return self.ids.get(ident)

    def add(self, ident: Hashable, labels: L, parent: int = -1) -> int:
        """The id of ``ident``, registering it if new (always new when not ``keyed``)."""
        keyed = self.keyed
        if keyed:
            found = self.ids.get(ident)
            if found is not None:
                return found
        if self._free:
            oid = self._free.pop()
            self.labels[oid] = labels
            self.present_bits[oid] = 0
            if keyed:
                self.ident[oid] = ident
        else:
            oid = self._count
            self._count += 1
            self.labels.append(labels)
            if keyed:
                self.ident.append(ident)
                self.given.append(None)
            if oid >= len(self.last_seen):
                self._grow(oid + 1)
        self.last_seen[oid] = INT_MISSING
        if keyed:
            self.ids[ident] = oid
            self.stamp[oid] = 0
            self.given[oid] = None
            self.given_id[oid] = 0
            self.start[oid] = INT_MISSING
        else:
            self.parent[oid] = parent
        return oid

    def give(self, oid: int, labels: object) -> None:
        """Remember ``labels`` as the label object last given for ``oid`` (see :attr:`given`)."""
        self.given[oid] = labels
        self.given_id[oid] = id(labels)

    def expire(self, cutoff_ns: int) -> IdArray:
        """Forget owners last seen at or before ``cutoff_ns``; return their ids."""
        gone = np.nonzero(self.last_seen[: self._count] <= cutoff_ns)[0].astype(np.int32)
        if not len(gone):
            return gone
        labels, empty = self.labels, self.empty
        if self.keyed:
            ids, ident, given = self.ids, self.ident, self.given
            for oid in gone.tolist():  # a freed id has last_seen _FREED: never expired again
                del ids[ident[oid]]
                ident[oid] = None
                labels[oid] = empty
                given[oid] = None
            self.given_id[gone] = 0
        else:
            for oid in gone.tolist():
                labels[oid] = empty
        self._free.extend(gone.tolist())
        # Freed ids must not look expired again, nor seen.
        self.last_seen[gone] = _FREED
        return gone

    def add_slots(self, count: int) -> None:
        """Append ``count`` slots (whole blocks) to the presence bits."""
        extra = np.zeros((self.present_bits.shape[0], count // BLOCK), dtype=np.uint8)
        self.present_bits = np.concatenate([self.present_bits, extra], axis=1)

    def mark(self, ids: IdArray | IntArray, slot: int) -> None:
        """Record that ``ids`` are in the batch of ``slot``."""
        self.present_bits[ids, slot // BLOCK] |= np.uint8(1 << (slot % BLOCK))

    def clear(self, slot: int, first: int = 0, last: int | None = None) -> None:
        """No owner (of ids ``first`` to ``last``, default all) is in the batch of ``slot`` (yet)."""
        self.present_bits[first:last, slot // BLOCK] &= np.uint8(~(1 << (slot % BLOCK)) & 0xFF)

    def present(self, ids: npt.NDArray[np.integer] | int,
                slots: npt.NDArray[np.integer] | list[int] | int) -> BoolArray:
        """Whether owner ``ids`` were in the batches of ``slots`` (broadcast as ``array[ids, slots]`` would)."""
        at = np.asarray(slots)
        bits = self.present_bits[ids, at // BLOCK] >> (at % BLOCK).astype(np.uint8)
        found: BoolArray = (bits & 1).astype(bool)
        return found

    def present_rows(self, ids: npt.NDArray[np.integer], slots: int) -> BoolArray:
        """``len(ids) x slots``: whether each owner was in the batch of each of the first ``slots`` slots."""
        found: BoolArray = np.unpackbits(self.present_bits[ids], axis=1, bitorder="little")[:, :slots].astype(bool)
        return found

    def ever_present(self, ids: npt.NDArray[np.integer]) -> bool:
        """Whether any of ``ids`` was in any batch held."""
        return bool(self.present_bits[ids].any())

    def _grow(self, needed: int) -> None:
        size = max(needed, len(self.last_seen) * 3 // 2, 64)
        present = np.zeros((size, self.present_bits.shape[1]), dtype=np.uint8)
        present[: self.present_bits.shape[0]] = self.present_bits
        self.present_bits = present
        grown: tuple[tuple[str, int], ...] = (("stamp", 0), ("given_id", 0), ("last_seen", INT_MISSING),
                                              ("start", INT_MISSING)) if self.keyed else (("last_seen", INT_MISSING),
                                                                                          ("parent", -1))
        for name, fill in grown:
            old = getattr(self, name)
            new = np.full(size, fill, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)
