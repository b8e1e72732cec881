"""Large lists freed a piece at a time, so that another thread can take the interpreter between pieces, and kept
out of the cyclic garbage collector's walks.

Freeing a list of a hundred thousand objects is one C call: it holds the interpreter lock (GIL) from the first
item to the last, and no switch interval interrupts it (an object holding several such lists frees them all in
one go). Freed by :func:`release_list`, the items go in C calls of :data:`RELEASE_STEP` items each, with a
bytecode between two of them where the interpreter switches to a waiting thread. (A dict has no such cheap
steps: popping its items one by one cost ten times its ``clear``.)

Only a container nothing else holds is emptied (the caller has dropped its own reference); a shared one is
left as it is (it is not freed now anyway).

A collection walks every item of every tracked young list (one memory read per item, scattered: a cache miss
each), so a window's key and label lists (at 300 nodes about 400,000 items alive at a collection) made a young
collection on the daemon's loop 37-60 ms, which an API request arriving meanwhile waited for. A list of strings
and label dicts takes part in no reference cycle; :func:`untrack` takes such a list out of the collector's sight.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

RELEASE_STEP = 8192
"""Items freed per C call (well under a millisecond of CPU for any of a batch's containers)."""

_ALONE = 2
"""``sys.getrefcount`` of a container held only by the caller's variable (the count includes its argument)."""


def release_list(items: list[Any]) -> None:
    """Empty ``items`` from the end, :data:`RELEASE_STEP` items at a time, if nothing else holds it."""
    if sys.getrefcount(items) > _ALONE + 1:  # + 1: our own parameter
        return
    while items:
        del items[-RELEASE_STEP:]


def _gc_untrack() -> Any:
    try:
        function = ctypes.pythonapi.PyObject_GC_UnTrack
    except AttributeError:  # not CPython: the collector walks the list, as before
        return None
    function.argtypes = [ctypes.py_object]
    function.restype = None
    return function


_UNTRACK = _gc_untrack()


def untrack(items: list[Any]) -> list[Any]:
    """``items`` no longer walked by the cyclic garbage collector; returns it.

    Only for a list that can be in no reference cycle (its items are strings, numbers, label dicts of strings or
    objects that do not refer back to it): a cycle through an untracked list would never be collected (a leak,
    never an early free). Items added later are not walked either; the items themselves stay as tracked as they
    were, and the list is freed by its reference count as any other.
    """
    if _UNTRACK is not None and type(items) is list:
        _UNTRACK(items)
    return items
