"""Large lists are freed a piece at a time (the interpreter can switch threads between two pieces), and only
when nothing else holds them; a dying window's batch frees its lists that way."""

from __future__ import annotations

from typing import Any

import pytest

from heapster import columns, release
from heapster.columns import BatchBuilder, ColumnBatch, PendingBatch


class Noted:
    """An item that notes, when it is freed, what ``seen()`` returns then."""

    def __init__(self, notes: list[int], seen: Any) -> None:
        self.notes, self.seen = notes, seen

    def __del__(self) -> None:
        self.notes.append(self.seen())


def test_a_list_held_by_the_caller_alone_is_emptied_in_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(release, "RELEASE_STEP", 2)
    notes: list[int] = []
    items: list[Any] = []
    items.extend(Noted(notes, lambda: len(items)) for _ in range(5))
    release.release_list(items)
    assert items == []
    assert notes == [3, 3, 1, 1, 0]  # two items per step, the rest still held meanwhile


def test_a_list_held_elsewhere_is_left_as_it_is() -> None:
    items = [1, 2, 3]
    elsewhere = {"list": items}
    release.release_list(items)
    assert elsewhere == {"list": [1, 2, 3]}


def _batch(entities: int) -> ColumnBatch:
    builder = BatchBuilder()
    for n in range(entities):
        builder.entity(f"node:n{n}", {"type": "node", "nodename": f"n{n}"})
    return builder.build()


def test_a_dying_large_batch_leaves_lists_held_elsewhere_intact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(columns, "RELEASE_FROM", 3)
    batch = _batch(5)
    assert batch.row_of("node:n4") == 4  # the key index is built
    kept_keys, kept_labels = batch.keys, batch.labels
    expected_keys, expected_labels = list(kept_keys), [dict(lb) for lb in kept_labels]
    del batch
    assert kept_keys == expected_keys
    assert kept_labels == expected_labels


def test_a_dying_large_batch_frees_what_it_alone_held(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(columns, "RELEASE_FROM", 3)
    monkeypatch.setattr(release, "RELEASE_STEP", 2)
    notes: list[int] = []
    batch = _batch(5)
    batch.series_labels = [Noted(notes, lambda: 0) for _ in range(5)]  # type: ignore[misc]
    del batch
    assert notes == [0] * 5


def test_a_dying_small_batch_and_an_unbuilt_part_are_left_to_the_interpreter(
        monkeypatch: pytest.MonkeyPatch) -> None:
    released: list[object] = []
    monkeypatch.setattr(columns, "release_list", released.append)
    small = _batch(5)  # under RELEASE_FROM
    del small
    builder = BatchBuilder()
    builder.entity("node:n0", {"type": "node"})
    built: list[bool] = []
    monkeypatch.setattr(BatchBuilder, "build", lambda self: built.append(True))
    monkeypatch.setattr(columns, "RELEASE_FROM", 0)
    part = PendingBatch(builder)
    del part
    assert released == []
    assert built == []  # dying, an unbuilt part did not build itself


def test_a_key_index_shares_its_row_numbers() -> None:
    batch = _batch(300)
    rows = [batch.row_of(f"node:n{n}") for n in range(300)]
    assert rows == list(range(300))
    assert batch.row_of("node:n299") is columns._row_numbers(300)[299]  # no int object of the index's own
    assert batch.row_of("node:other") is None


def test_an_untracked_list_keeps_its_items_and_is_not_walked_by_the_collector() -> None:
    import gc

    items: list[Any] = ["node:n1", {"type": "node"}]
    assert gc.is_tracked(items)
    assert release.untrack(items) is items
    assert not gc.is_tracked(items)
    items.append({"type": "pod"})
    release.untrack(items)  # twice: no harm
    assert not gc.is_tracked(items)
    assert items == ["node:n1", {"type": "node"}, {"type": "pod"}]
    held = [object()]
    other: dict[str, Any] = {"held": held}
    assert release.untrack(other) is other  # not a list: left as it is
    assert gc.is_tracked(other)


def test_a_window_s_joined_lists_are_not_walked_by_the_collector() -> None:
    import gc

    parts: list[ColumnBatch] = []
    for node in range(3):
        builder = BatchBuilder()
        builder.entity(f"node:n{node}", {"type": "node", "nodename": f"n{node}"})
        parts.append(builder.lazy())
    joined = ColumnBatch.concat(parts)
    assert joined.keys == ["node:n0", "node:n1", "node:n2"]
    assert not any(gc.is_tracked(items) for items in (joined.keys, joined.labels, joined.series_labels))
    built = ColumnBatch.concat([_batch(2), _batch(1)])  # parts already built, a key again: concat, then select
    assert built.keys == ["node:n1", "node:n0"]
    assert not any(gc.is_tracked(items) for items in (built.keys, built.labels, built.series_labels))
