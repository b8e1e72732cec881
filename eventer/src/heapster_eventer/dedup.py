"""Bounded memory of exported events, keyed by event UID and resourceVersion."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
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
    Memory is bounded: the oldest keys are forgotten first (about 100 bytes a key).
    """

    def __init__(self, capacity: int = 20_000) -> None:
        if capacity < 1:
            msg = "dedup capacity must be at least 1"
            raise ValueError(msg)
        self.capacity = capacity
        self._keys: dict[int, None] = {}
        self.duplicates = 0

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: int) -> bool:
        return key in self._keys

    def remember(self, key: int) -> None:
        """Record a key as seen (as the newest), forgetting the oldest one if full."""
        self._keys.pop(key, None)
        self._keys[key] = None
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
            self.remember(key)
            fresh.append(event)
        return fresh

    def snapshot(self, limit: int | None = None) -> list[str]:
        """The newest ``limit`` keys (all by default), oldest first, as hex strings for a checkpoint."""
        keys = list(self._keys)
        if limit is not None:
            keys = keys[-limit:] if limit > 0 else []
        return [f"{k:016x}" for k in keys]

    def restore(self, keys: Iterable[str]) -> None:
        """Remember keys from a checkpoint (oldest first); malformed entries are ignored."""
        for text in keys:
            try:
                self.remember(int(text, 16))
            except (TypeError, ValueError):
                continue
