"""Large lists freed a piece at a time, so that another thread can take the interpreter between pieces.

Freeing a list of a hundred thousand objects is one C call: it holds the interpreter lock (GIL) from the first
item to the last, and no switch interval interrupts it (an object holding several such lists frees them all in
one go). Freed by :func:`release_list`, the items go in C calls of :data:`RELEASE_STEP` items each, with a
bytecode between two of them where the interpreter switches to a waiting thread. (A dict has no such cheap
steps: popping its items one by one cost ten times its ``clear``.)

Only a container nothing else holds is emptied (the caller has dropped its own reference); a shared one is
left as it is (it is not freed now anyway).
"""

from __future__ import annotations

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
