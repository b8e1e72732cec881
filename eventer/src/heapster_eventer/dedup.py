"""Bounded memory of exported events, keyed by event UID and resourceVersion."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from typing import Any

from heapster.model import Event


def event_key(event: Event) -> int | None:
    """A 64-bit key of an event's UID and resourceVersion; ``None`` when the event has no UID."""
    meta: dict[str, Any] = event.get("metadata") or {}
    uid = meta.get("uid")
    if not uid:
        return None
    text = f"{uid}/{meta.get('resourceVersion', '')}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


class Deduplicator:
    """Remembers the last ``capacity`` event versions seen and filters out repeats.

    An event is the same record when its UID and resourceVersion are the same: a count bump
    (MODIFIED) has a new resourceVersion and so is a new record, while a replay of the same
    version (after a relist, a restart, or a watch resumed from an older position) is not.
    Memory is bounded: the oldest keys are forgotten first (about 100 bytes a key). Each key
    keeps its event's resourceVersion, so a checkpoint can hold only the keys that can still
    come back: those above the position the source resumes from.
    """

    def __init__(self, capacity: int = 20_000) -> None:
        if capacity < 1:
            msg = "dedup capacity must be at least 1"
            raise ValueError(msg)
        self.capacity = capacity
        self._keys: dict[int, int | None] = {}
        self.duplicates = 0

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: int) -> bool:
        return key in self._keys

    def remember(self, key: int, rv: int | None = None) -> None:
        """Record a key (with its resourceVersion) as seen, as the newest; forget the oldest if full."""
        self._keys.pop(key, None)
        self._keys[key] = rv
        if len(self._keys) > self.capacity:
            del self._keys[next(iter(self._keys))]

    def filter(self, events: Iterable[Event]) -> list[Event]:
        """The events not seen before, in order; each is remembered. Counts the duplicates."""
        fresh: list[Event] = []
        for event in events:
            key = event_key(event)
            if key is None:
                fresh.append(event)
                continue
            if key in self._keys:
                self.duplicates += 1
                continue
            self.remember(key, _rv(event))
            fresh.append(event)
        return fresh

    def snapshot(self, above: int | None = None, exclude: Collection[int] = ()) -> list[str]:
        """Keys for a checkpoint, oldest first, as ``hex:resourceVersion`` (``hex`` without one).

        With ``above``, only keys of versions above it (or of unknown version): a source resumed
        from ``above`` never hands out an older version again. ``exclude`` leaves keys out.
        """
        out = []
        for key, rv in self._keys.items():
            if key in exclude or (above is not None and rv is not None and rv <= above):
                continue
            out.append(f"{key:016x}" if rv is None else f"{key:016x}:{rv}")
        return out

    def restore(self, keys: Iterable[str]) -> None:
        """Remember keys from a checkpoint (oldest first); malformed entries are ignored."""
        for text in keys:
            key, _, rv = str(text).partition(":")
            try:
                self.remember(int(key, 16), int(rv) if rv else None)
            except ValueError:
                continue


def _rv(event: Event) -> int | None:
    try:
        return int((event.get("metadata") or {}).get("resourceVersion", ""))
    except (TypeError, ValueError):
        return None
