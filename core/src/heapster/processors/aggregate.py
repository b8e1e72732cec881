"""Summing metric columns across entities, shared by the aggregators."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import is_

import numpy as np

from heapster.columns import ColumnBatch, RowArray
from heapster.pausepoint import pause
from heapster.processors.runs import SAME_PART
from heapster.release import untrack

RESOURCE_METRICS = ("cpu/usage_rate", "memory/usage", "cpu/request", "cpu/limit", "memory/request",
                    "memory/limit")
"""What the namespace and cluster aggregators sum."""

REQUEST_LIMIT_METRICS = ("cpu/request", "cpu/limit", "memory/request", "memory/limit",
                         "ephemeral_storage/request", "ephemeral_storage/limit")
"""What the node aggregator adds to nodes."""


def add_grouped(batch: ColumnBatch, names: Iterable[str], sources: RowArray, targets: RowArray,
                only_missing: bool = False) -> None:
    """Add each ``sources[i]``'s value of every metric in ``names`` to ``targets[i]``.

    Values are added in ``sources`` order onto the target's own value (missing counts as nothing,
    so a target without the metric takes the first source's value), as Heapster's loops did: ints
    stay ints, a float on either side makes a float. With ``only_missing`` a target that already
    has the metric is left alone (the pod aggregator's rule).
    """
    whole: tuple[RowArray, RowArray] | None = None  # the distinct targets and each pair's index in them
    for name in names:
        column = batch.values.get(name)
        if column is None:
            continue
        pause()  # a column's sums at a time (a few array operations over the batch)
        there = column.present()
        contributing = there[sources]
        if not contributing.any():
            continue
        src, dst = sources, targets
        subset = not contributing.all()
        if subset:
            src, dst = sources[contributing], targets[contributing]
        if only_missing:
            free = ~there[dst]
            if not free.all():
                subset = True
                src, dst = src[free], dst[free]
                if not len(dst):
                    continue
        if subset:
            rows, slots = np.unique(dst, return_inverse=True)
        else:
            if whole is None:
                whole = np.unique(targets, return_inverse=True)
            rows, slots = whole
        # Only the targets' cells are read and written (each target's terms added in ``sources`` order).
        data = column.data
        had = there[rows]
        totals = np.where(had, data[rows], 0).astype(data.dtype)
        np.add.at(totals, slots, data[src])
        data[rows] = totals
        if column.ints is not None:  # a sum is an int only if every term was (Python's rule)
            all_ints = np.where(had, column.ints[rows], True)
            np.logical_and.at(all_ints, slots, column.ints[src])
            column.ints[rows] = all_ints


class Grouping:
    """Pairs of (source row, target row) for :func:`add_grouped`; a missing target entity is created.

    ``add(source, key, make_labels)`` adds ``source`` to the entity ``key``; when the batch has no
    such entity, one is appended with the labels ``make_labels(labels of source)`` (once per key).
    """

    def __init__(self, cols: ColumnBatch) -> None:
        self.cols = cols
        self.sources: list[int] = []
        self.targets: list[int] = []
        self._new_keys: list[str] = []
        self._new_labels: list[dict[str, str]] = []
        self._new_rows: dict[str, int] = {}

    def add(self, source: int, key: str, make_labels: Callable[[dict[str, str]], dict[str, str]]) -> None:
        row = self.cols.row_of(key)
        if row is None:
            row = self._new_rows.get(key)
            if row is None:
                row = self._new_rows[key] = len(self.cols) + len(self._new_keys)
                self._new_keys.append(key)
                self._new_labels.append(make_labels(self.cols.labels[source]))
        self.sources.append(source)
        self.targets.append(row)

    def add_all(self, sources: list[int], keys: list[str],
                make_labels: Callable[[dict[str, str]], dict[str, str]],
                made: dict[str, tuple[dict[str, str], dict[str, str]]] | None = None) -> None:
        """``add(sources[i], keys[i], make_labels)`` for every ``i``, with Python per distinct key only.

        ``made`` (kept by the caller from batch to batch) remembers each created key's source labels and the
        labels made of them: the same source dict again gives the same made dict (label sets are shared and
        read-only, and the store then sees the entity unchanged without hashing its labels)."""
        first_source = dict(zip(reversed(keys), reversed(sources), strict=True))  # each key's first source
        pause()
        row_of = self.cols.row_of
        target_of: dict[str, int] = {}
        for key in dict.fromkeys(keys):  # in order of first appearance, as ``add`` creates them
            row = row_of(key)
            if row is None:
                row = self._new_rows.get(key)
                if row is None:
                    row = self._new_rows[key] = len(self.cols) + len(self._new_keys)
                    self._new_keys.append(key)
                    source = self.cols.labels[first_source[key]]
                    if made is None:
                        self._new_labels.append(make_labels(source))
                    else:
                        before = made.get(key)
                        if before is None or before[0] is not source:
                            before = made[key] = (source, make_labels(source))
                        self._new_labels.append(before[1])
            target_of[key] = row
        if made is not None and len(made) > 2 * len(self._new_keys) + 64:  # forget keys gone for good
            for key in [key for key in made if key not in self._new_rows]:
                del made[key]
        pause()
        self.sources.extend(sources)
        self.targets.extend(map(target_of.__getitem__, keys))

    def created(self) -> list[str]:
        """Keys of the entities this grouping created."""
        return self._new_keys

    def created_labels(self) -> list[dict[str, str]]:
        """Labels of the entities this grouping created (those of :meth:`created`, in order)."""
        return self._new_labels

    def apply(self, names: Iterable[str], only_missing: bool = False) -> None:
        """Create the missing targets, then add the sources' values of ``names`` to them."""
        if self._new_keys:
            self.cols.add_entities(self._new_keys, self._new_labels)
        if self.sources:
            add_grouped(self.cols, names, np.array(self.sources, dtype=np.intp),
                        np.array(self.targets, dtype=np.intp), only_missing)


def _same_keys(keys: list[str], before: list[str]) -> bool:
    """``keys == before`` (of equal lengths) in parts, a pause point between two (a window's keys at 1000 nodes:
    about 1 ms in one C call when the very strings are there, more for equal copies)."""
    for start in range(0, len(keys), SAME_PART):
        pause()
        if keys[start:start + SAME_PART] != before[start:start + SAME_PART]:
            return False
    return True


_LAST_COPY: list[list[str]] = [[]]
"""The key list :func:`kept_keys` copied last."""


def kept_keys(keys: list[str]) -> list[str]:
    """A copy of a batch's key list to keep to the next batch (untracked: no walk by the collector); the copy made
    last when it is equal. The aggregators each keep the keys they saw, and until one of them adds entities they
    see the same keys: one copy for those (8 bytes a key, ~0.75 KiB per node each at 1000 nodes), not one each.
    The copies are read only, so sharing them changes nothing."""
    last = _LAST_COPY[0]
    if len(last) == len(keys) and _same_keys(keys, last):
        return last
    copy: list[str] = untrack(list(keys))
    _LAST_COPY[0] = copy
    return copy


class SameInput:
    """Whether a batch's keys and the label dicts of some of its rows (by identity) are those of the last batch:
    an aggregator whose grouping depends on nothing else then reuses the last one (label sets are shared and
    read-only, so at the steady state the rows hold the very dicts again)."""

    __slots__ = ("keys", "labels", "rows")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.rows: RowArray = np.empty(0, dtype=np.intp)
        self.labels: list[dict[str, str]] = []

    def check(self, cols: ColumnBatch, rows: RowArray) -> bool:
        """True when ``cols`` has the last batch's keys and ``rows`` hold the last batch's dicts; otherwise
        remembers these for the next batch and returns False."""
        label_of = cols.labels.__getitem__
        picked = rows.tolist()
        if (len(cols.keys) == len(self.keys) and np.array_equal(rows, self.rows)
                and self._same_labels(label_of, picked) and _same_keys(cols.keys, self.keys)):
            return True
        labels: list[dict[str, str]] = untrack([])  # kept to the next batch: no walk by the collector
        for start in range(0, len(picked), SAME_PART):
            pause()
            labels += map(label_of, picked[start:start + SAME_PART])
        self.keys, self.rows, self.labels = kept_keys(cols.keys), rows, labels
        return False

    def _same_labels(self, label_of: Callable[[int], dict[str, str]], picked: list[int]) -> bool:
        """Whether rows ``picked`` hold the last batch's very dicts (compared in parts, no list of them built)."""
        before = self.labels
        if len(before) != len(picked):
            return False
        for start in range(0, len(picked), SAME_PART):
            pause()
            if not all(map(is_, before[start:start + SAME_PART], map(label_of, picked[start:start + SAME_PART]))):
                return False
        return True
