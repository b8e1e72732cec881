"""De-duplication by event UID + resourceVersion, with bounded memory."""

from __future__ import annotations

from heapster_eventer.dedup import Deduplicator, event_key
from heapster_eventer.testing import event


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
    restored.restore([*dedup.snapshot(limit=2), "not-hex"])
    assert restored.filter([event("a", 1), event("b", 2), event("c", 3)]) == [event("a", 1)]
