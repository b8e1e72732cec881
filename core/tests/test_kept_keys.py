"""The key lists the aggregators keep to the next batch: one copy for equal lists, never the batch's own list."""

from __future__ import annotations

from heapster.processors.aggregate import kept_keys


def test_equal_key_lists_share_one_copy_and_others_get_their_own() -> None:
    keys = ["node:n1", "namespace:a/pod:p"]
    first = kept_keys(keys)
    assert first == keys and first is not keys
    keys.append("namespace:a")  # the batch's list grows (an aggregator adds entities): the copy does not
    assert first == ["node:n1", "namespace:a/pod:p"]
    second = kept_keys(keys)
    assert second == keys and second is not first
    assert kept_keys(list(keys)) is second  # equal keys again: the same copy
    assert kept_keys(["node:n1", "namespace:a/pod:q", "namespace:a"]) is not second  # as long, not equal
