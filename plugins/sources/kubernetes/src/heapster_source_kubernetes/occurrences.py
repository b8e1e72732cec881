"""How many versions of an event a ``410`` gap lost: a bounded memory of recent events' counts.

A core/v1 Event counts its occurrences (``count``); each occurrence is a new version. When a
relist after ``410 Gone`` shows an event at count ``c`` and the last version handed out had count
``k``, the ``c - k - 1`` versions between happened while no watch ran and the API no longer holds
them. An event the memory does not know was born in the gap (all ``c - 1`` earlier versions lost)
if it first occurred after the memory was last complete; otherwise (it existed before the eventer
first started, or was forgotten) nobody can tell, and it is reported as uncertain, not as lost.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Mapping
from typing import Any

from heapster.digest import digest64
from heapster.keytable import VALUE_LIMIT, KeyTable
from heapster.model import Event
from heapster.timefmt import parse_rfc3339

CAPACITY = 20_000
"""Events remembered (about 33 bytes each, in a :class:`~heapster.keytable.KeyTable`); oldest forgotten first."""
_KEY_LIMIT = 1 << 64
"""UID keys are 64-bit."""


def uid_key(event: Event) -> int | None:
    """A 64-bit hash of the event's UID (``None`` without one)."""
    uid = (event.get("metadata") or {}).get("uid")
    if not uid:
        return None
    return digest64(str(uid).encode())


def occurrence_count(event: Event) -> int | None:
    """How often the event has happened (core/v1 ``count``), when it says so."""
    count = event.get("count")
    return count if isinstance(count, int) and count >= 1 else None


def first_seen(event: Event) -> float | None:
    """When the event first occurred (``firstTimestamp``, else its creation), in epoch seconds."""
    for text in (event.get("firstTimestamp"), (event.get("metadata") or {}).get("creationTimestamp")):
        if isinstance(text, str) and text:
            try:
                return parse_rfc3339(text).timestamp()
            except ValueError:
                continue
    return None


class OccurrenceMemory:
    """UID hash -> the count last handed out, and the time up to which every event handed out is in it.

    ``complete_since`` is that time (:meth:`mark_complete`): when a watch starts afresh, then at
    every event a watch hands out and at the end of every relist, but not during a relist;
    ``None`` when unknown (resumed from a checkpoint that did not keep it).
    """

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self.complete_since: float | None = None
        self._counts = KeyTable(capacity)
        self.keep_taken = True
        """Copy the memory at :meth:`mark_taken` for :meth:`saved` (``False``: no checkpoint will ask for it)."""
        self._taken: tuple[array[int], array[int], float | None] | None = None

    def __len__(self) -> int:
        return len(self._counts)

    def missed(self, event: Event) -> int | None:
        """Versions of ``event`` before this one that were never handed out; ``None`` when unknowable."""
        count = occurrence_count(event)
        uid = uid_key(event)
        if count is None or uid is None:
            return 0
        known = self._counts.get(uid)
        if known is not None:
            return max(0, count - known - 1)
        first = first_seen(event)
        if self.complete_since is not None and first is not None and first > self.complete_since:
            return count - 1  # born after the memory was complete: every earlier version fell in the gap
        return None

    def mark_complete(self, now: float) -> None:
        """Every event that occurred up to ``now`` has been handed out."""
        self.complete_since = now

    def remember(self, event: Event) -> None:
        """Record the event's count as the newest handed out; forget the oldest beyond capacity."""
        count = occurrence_count(event)
        uid = uid_key(event)
        if count is None or uid is None:
            return
        self._counts.put(uid, min(count, VALUE_LIMIT - 1))

    def forget(self, event: Event) -> None:
        """The event was deleted: it cannot come back."""
        uid = uid_key(event)
        if uid is not None:
            self._counts.pop(uid)

    def mark_taken(self) -> None:
        """Keep the memory as it is now for :meth:`saved` (the eventer has taken what was handed out).

        Kept as arrays of the keys and the counts (8 bytes an entry each: 0.3 MiB when full, where a copy of
        a dict was 0.56 MiB), at every ``get_new_events``; not kept when :attr:`keep_taken` is ``False``.
        """
        if not self.keep_taken:
            self._taken = None
            return
        keys, counts = self._counts.arrays()
        self._taken = (keys, counts, self.complete_since)

    def saved(self) -> dict[str, Any]:
        """The memory as of the last :meth:`mark_taken`, as JSON: ``{"complete_since", "counts"}``."""
        if self._taken is None:
            return {}
        keys, counts, since = self._taken
        if sys.byteorder == "little":
            keys = array("Q", keys)
            keys.byteswap()
        text = keys.tobytes().hex()  # each key as 16 hex digits, written at once (a format per key: 5x slower)
        hexes = [text[i:i + 16] for i in range(0, len(text), 16)]
        return {"complete_since": since, "counts": dict(zip(hexes, counts, strict=True))}

    def restore(self, document: Mapping[str, Any]) -> None:
        """Load what :meth:`saved` returned (malformed entries are ignored)."""
        counts = document.get("counts")
        for text, count in (counts.items() if isinstance(counts, Mapping) else ()):
            if isinstance(count, int) and count >= 1:
                try:
                    key = int(text, 16)
                except (TypeError, ValueError):
                    continue
                if 0 <= key < _KEY_LIMIT and count < VALUE_LIMIT:
                    self._counts.put(key, count)
        since = document.get("complete_since")
        self.complete_since = float(since) if isinstance(since, int | float) else None
        self.mark_taken()
