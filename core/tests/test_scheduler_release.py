"""The window's per-node parts are freed one at a time after their join (the interpreter can switch threads
between two of them), not all in one C call."""

from __future__ import annotations

from typing import Any

from heapster import scheduler


def test_parts_are_released_one_by_one() -> None:
    parts: list[Any] = []
    left_when_freed: list[int] = []

    class Part:
        def __del__(self) -> None:
            left_when_freed.append(len(parts))

    parts.extend(Part() for _ in range(5))
    scheduler._release_one_by_one(parts)
    assert parts == []
    # Each part was freed while the ones after it in the loop were still held (a list freed or cleared at once
    # would have emptied it before the first part went).
    assert left_when_freed == [4, 3, 2, 1, 0]
