"""De-duplication by event UID + resourceVersion, with bounded memory."""

from __future__ import annotations

import hashlib

from heapster.testing.events import event
from heapster_eventer.dedup import HASH_BITS, Deduplicator, event_key


def test_same_uid_and_version_is_dropped_but_a_count_bump_is_kept() -> None:
    dedup = Deduplicator()
    first = dedup.filter([event("a", 10), event("b", 11)])
    again = dedup.filter([event("a", 10), event("a", 12, count=2), event("b", 11)])
    assert [e["metadata"]["resourceVersion"] for e in first] == ["10", "11"]
    assert [(e["metadata"]["uid"], e["count"]) for e in again] == [("a", 2)]
    assert dedup.duplicates == 2


def test_memory_is_bounded_and_oldest_keys_are_forgotten_first() -> None:
    dedup = Deduplicator(capacity=3)
    dedup.filter([event(f"u{i}", i) for i in range(5)])
    assert len(dedup) == 3
    assert event_key(event("u0", 0)) not in dedup
    assert event_key(event("u4", 4)) in dedup
    assert dedup.filter([event("u0", 0)]) != []  # forgotten, so let through


def test_events_without_uid_always_pass() -> None:
    dedup = Deduplicator()
    anonymous = {"metadata": {"name": "x"}, "message": "m"}
    assert len(dedup.filter([anonymous, anonymous])) == 2


def test_snapshot_round_trips_through_restore() -> None:
    dedup = Deduplicator()
    dedup.filter([event("a", 1), event("b", 2), event("c", 3)])
    restored = Deduplicator()
    restored.restore([*dedup.snapshot(), "not-hex", "zz:1"])
    assert len(restored) == 3
    assert restored.filter([event("a", 1), event("b", 2), event("c", 3)]) == []


def test_snapshot_keeps_only_versions_above_the_resume_position_and_not_excluded() -> None:
    dedup = Deduplicator()
    dedup.filter([event("a", 7), event("b", 12), event("c", 10), {"metadata": {"uid": "d", "resourceVersion": "x"}}])
    c_key = event_key(event("c", 10))
    assert c_key is not None
    kept = dedup.snapshot(above=10, exclude={c_key})
    restored = Deduplicator()
    restored.restore(kept)
    assert len(kept) == 2 and kept[0].endswith(":12") and ":" not in kept[1]  # b, and d of unknown version
    passed = restored.filter([event("a", 7), event("b", 12), event("c", 10)])
    assert [e["metadata"]["uid"] for e in passed] == ["a", "c"]


def test_old_checkpoint_keys_without_a_version_are_restored() -> None:
    restored = Deduplicator()
    key = event_key(event("a", 1))
    assert key is not None
    digest = key & ((1 << HASH_BITS) - 1)
    restored.restore([f"{digest:016x}"])
    assert restored.filter([event("a", 1)]) == []
    assert restored.snapshot(above=5) == [f"{digest:016x}"]  # version unknown: kept
    assert restored.filter([event("b", 2)]) != []  # another event is not matched by it


def test_a_key_without_a_version_is_forgotten_like_any_other() -> None:
    key = event_key(event("a", 1))
    assert key is not None
    dedup = Deduplicator(capacity=2)
    dedup.restore([f"{key & ((1 << HASH_BITS) - 1):016x}"])
    dedup.filter([event("b", 2), event("c", 3)])
    assert len(dedup) == 2
    assert dedup.filter([event("a", 1)]) != []  # the oldest (a, without a version) was forgotten


def test_checkpoint_entries_are_the_hash_of_uid_and_version_and_the_version() -> None:
    """The checkpoint's text (written by every earlier version of the eventer) does not change."""
    dedup = Deduplicator()
    dedup.filter([event("a", 7), {"metadata": {"uid": "d", "resourceVersion": "x"}}])
    digest = hashlib.blake2b(b"a/7", digest_size=8).hexdigest()
    other = hashlib.blake2b(b"d/x", digest_size=8).hexdigest()
    assert dedup.snapshot() == [f"{digest}:7", other]
    restored = Deduplicator()
    restored.restore([f"{digest}:7", other])
    assert restored.filter([event("a", 7), {"metadata": {"uid": "d", "resourceVersion": "x"}}]) == []
