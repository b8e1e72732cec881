"""The array-backed key table behaves as a bounded insertion-ordered dict (the reference model here)."""

from __future__ import annotations

import random

import pytest

from heapster.keytable import VALUE_LIMIT, KeyTable


class Model:
    """What :class:`KeyTable` must do, with a dict: put moves a key to the newest, the oldest go first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.entries: dict[int, int] = {}

    def put(self, key: int, value: int) -> None:
        self.entries.pop(key, None)
        self.entries[key] = value
        while len(self.entries) > self.capacity:
            del self.entries[next(iter(self.entries))]

    def pop(self, key: int) -> int | None:
        return self.entries.pop(key, None)


def _same(table: KeyTable, model: Model) -> None:
    assert list(table.items()) == list(model.entries.items())
    keys, values = table.arrays()
    assert list(zip(keys, values, strict=True)) == list(model.entries.items())
    assert len(table) == len(model.entries)


@pytest.mark.parametrize(("capacity", "key_bits", "seed"), [(1, 64, 1), (5, 4, 2), (37, 6, 3), (300, 64, 4),
                                                           (300, 9, 5), (1000, 11, 6)])
def test_random_puts_pops_and_lookups_match_a_bounded_ordered_dict(capacity: int, key_bits: int, seed: int) -> None:
    # Few key bits: many collisions in the index and many keys put again (dead slots, compactions).
    rng = random.Random(seed)
    table, model = KeyTable(capacity), Model(capacity)
    for step in range(20 * capacity + 200):
        key = rng.getrandbits(key_bits)
        action = rng.random()
        if action < 0.6:
            value = rng.getrandbits(63)
            table.put(key, value)
            model.put(key, value)
        elif action < 0.75:
            assert table.pop(key) == model.pop(key)
        else:
            assert table.get(key) == model.entries.get(key)
            assert (key in table) == (key in model.entries)
        if step % 97 == 0:
            _same(table, model)
    _same(table, model)


def test_the_oldest_is_forgotten_first_and_a_key_put_again_becomes_the_newest() -> None:
    table = KeyTable(3)
    for key in (10, 20, 30):
        table.put(key, key + 1)
    table.put(10, 99)  # newest now
    table.put(40, 41)  # forgets 20, the oldest
    assert list(table.items()) == [(30, 31), (10, 99), (40, 41)]
    assert 20 not in table and table.get(20) is None and table.get(10) == 99


def test_a_full_table_keeps_working_past_many_wraps_of_its_ring() -> None:
    table = KeyTable(100)
    for key in range(1, 100_001):
        table.put(key * 0x9E3779B97F4A7C15 % (1 << 64), key)
    assert [value for _, value in table.items()] == list(range(99_901, 100_001))


def test_keys_and_values_out_of_range_are_refused() -> None:
    table = KeyTable(4)
    with pytest.raises(OverflowError):
        table.put(1 << 64, 1)
    with pytest.raises(OverflowError):
        table.put(1, VALUE_LIMIT)
    with pytest.raises(ValueError, match="at least 1"):
        KeyTable(0)
    table.put((1 << 64) - 1, VALUE_LIMIT - 1)
    assert list(table.items()) == [((1 << 64) - 1, VALUE_LIMIT - 1)]


def test_a_probe_run_that_wraps_around_the_index_end_survives_a_removal() -> None:
    # The index starts with 16 slots: 15 and 31 both belong in slot 15 (31 wraps to slot 0), 16 in slot 0
    # (pushed to slot 1). Popping 15 must move 31 back to slot 15 and 16 to slot 0, or both get lost.
    table = KeyTable(4)
    for key in (15, 31, 16):
        table.put(key, key)
    assert table.pop(15) == 15
    assert (table.get(31), table.get(16), table.get(15)) == (31, 16, None)
    assert list(table.items()) == [(31, 31), (16, 16)]
