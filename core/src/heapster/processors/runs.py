"""Runs of consecutive rows, and whether a run holds the very label dicts it held in the last batch.

Label sets are shared and read-only: a source hands out the same dict objects while an entity does not change
(the kubernetes source keeps each node's entity table), so a processor that remembers what a run of rows (a
node's pods and containers) got can give it again when the run holds the same objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import is_
from typing import Any

import numpy as np

from heapster.columns import RowArray
from heapster.pausepoint import pause

PAUSE_RUNS = 8
"""Runs of rows (nodes) a processor works through between two pause points (:func:`heapster.pausepoint.pause`)."""
SAME_PART = 8_192
"""Objects compared in one C call by :func:`same_objects` (a whole batch's label dicts at 1000 nodes: about 6 ms
holding the interpreter); a pause point between two parts."""


def runs(rows: RowArray) -> list[tuple[int, int]]:
    """``(first, end)`` of each run of consecutive rows in ``rows`` (ascending), in order."""
    if not len(rows):
        return []
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    firsts = rows[np.concatenate([[0], breaks])].tolist()
    ends = (rows[np.concatenate([breaks - 1, [len(rows) - 1]])] + 1).tolist()
    return list(zip(firsts, ends, strict=True))


def same_objects(before: Sequence[object], now: Sequence[object]) -> bool:
    """Whether ``now`` holds the very objects of ``before``, in order (identity, not equality: equal label
    dicts in another key order must not give the other's result)."""
    if len(before) != len(now):
        return False
    if len(now) <= SAME_PART:
        return all(map(is_, before, now))
    for start in range(0, len(now), SAME_PART):
        pause()
        if not all(map(is_, before[start:start + SAME_PART], now[start:start + SAME_PART])):
            return False
    return True


_GIVEN: list[dict[int, list[Any]]] = [{}]
"""The runs' label lists the last batch's first run-keeping processor gave (see :func:`give`), by the id of their
first dict."""


def give(lists: Iterable[list[Any]]) -> None:
    """Publish the label lists a processor gave its runs in this batch (each held by that processor to the next
    batch), in place of the last ones published: a later processor that keeps a run of the very same dicts keeps
    one of these (:func:`given`) instead of a list of its own."""
    _GIVEN[0] = {id(items[0]): items for items in lists if items}


def given(items: list[Any]) -> list[Any]:
    """A published list holding the very objects of ``items`` in order, else ``items`` itself. The pod enricher's
    runs, the namespace enricher's and the pod aggregator's hold the same dicts: one list for the three (~0.76 KiB
    per node each at 1000 nodes), not three. Lists kept so are read only, so sharing them changes nothing."""
    if not items:
        return items
    found = _GIVEN[0].get(id(items[0]))
    return found if found is not None and same_objects(found, items) else items
