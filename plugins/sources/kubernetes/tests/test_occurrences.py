"""The memory of recent events' counts that tells how many versions a 410 gap lost."""

from __future__ import annotations

from typing import Any

from heapster_source_kubernetes.occurrences import OccurrenceMemory, first_seen, uid_key

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def ev(uid: str, count: Any, first: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {"metadata": {"uid": uid, "creationTimestamp": "2025-12-31T00:00:00Z"}, "count": count,
            "firstTimestamp": first}


def test_a_known_event_missed_the_versions_between_its_counts() -> None:
    memory = OccurrenceMemory()
    memory.remember(ev("a", 2))
    assert memory.missed(ev("a", 5)) == 2
    assert memory.missed(ev("a", 3)) == 0
    assert memory.missed(ev("a", 2)) == 0  # a repeat, not a loss


def test_an_unknown_event_lost_its_earlier_versions_only_if_born_after_the_memory_was_complete() -> None:
    memory = OccurrenceMemory()
    memory.complete_since = T0 + 10
    assert memory.missed(ev("born-in-gap", 4, "2026-01-01T00:00:11Z")) == 3
    assert memory.missed(ev("older", 4, "2026-01-01T00:00:10Z")) is None  # may have been exported long ago
    memory.complete_since = None
    assert memory.missed(ev("born-in-gap", 4, "2026-01-01T00:00:11Z")) is None
    assert memory.missed(ev("no-count", None)) == 0
    assert memory.missed({"count": 3}) == 0  # no UID: nothing to compare


def test_first_seen_falls_back_to_the_creation_time() -> None:
    assert first_seen(ev("a", 1)) == T0
    assert first_seen(ev("a", 1, first="")) == T0 - 86_400
    assert first_seen({"metadata": {}}) is None


def test_bounded_oldest_forgotten_first_and_deleted_events_forgotten() -> None:
    memory = OccurrenceMemory(capacity=2)
    for uid in ("a", "b", "c"):
        memory.remember(ev(uid, 1))
    assert len(memory) == 2 and memory.missed(ev("a", 3)) is None and memory.missed(ev("c", 3)) == 1
    memory.forget(ev("c", 1))
    assert len(memory) == 1


def test_saved_is_the_memory_when_last_taken_and_restores_in_order() -> None:
    memory = OccurrenceMemory()
    memory.remember(ev("a", 1))
    memory.mark_complete(T0)
    memory.mark_taken()
    memory.remember(ev("b", 7))  # handed out, not yet taken by the eventer
    memory.mark_complete(T0 + 5)
    saved = memory.saved()
    assert saved["complete_since"] == T0 and len(saved["counts"]) == 1
    restored = OccurrenceMemory(capacity=1)
    memory.mark_taken()
    restored.restore({"complete_since": T0, "counts": {**memory.saved()["counts"], "zz": 2, "00": "x"}})
    assert len(restored) == 1 and restored.missed(ev("b", 9)) == 1  # the newest kept
    assert restored.complete_since == T0 and restored.saved()["complete_since"] == T0
    empty = OccurrenceMemory()
    empty.restore({"counts": [], "complete_since": "soon"})
    assert len(empty) == 0 and empty.complete_since is None


def test_saved_keys_are_16_hex_digits_of_the_uid_hash_as_taken_and_oversized_keys_are_ignored() -> None:
    memory = OccurrenceMemory()
    for i, count in enumerate((3, 1, 9)):
        memory.remember(ev(f"uid-{i}", count))
    memory.mark_taken()
    memory.remember(ev("uid-0", 4))  # after the take: not in what is saved, and not moved in it
    counts = memory.saved()["counts"]
    expected = {f"{uid_key(ev(f'uid-{i}', 1)):016x}": count for i, count in enumerate((3, 1, 9))}
    assert list(counts.items()) == list(expected.items())
    restored = OccurrenceMemory()
    restored.restore({"counts": {**counts, "1" + "0" * 16: 5}})  # 65 bits: not a UID hash, ignored
    restored.mark_taken()
    assert restored.saved()["counts"] == counts


def test_no_copy_is_kept_when_no_checkpoint_will_ask_for_it() -> None:
    memory = OccurrenceMemory()
    memory.remember(ev("a", 1))
    memory.mark_taken()
    assert len(memory.saved()["counts"]) == 1
    memory.keep_taken = False
    memory.mark_taken()
    assert memory.saved() == {} and memory.missed(ev("a", 3)) == 1  # the memory itself is kept
    memory.keep_taken = True
    memory.mark_taken()
    assert len(memory.saved()["counts"]) == 1
