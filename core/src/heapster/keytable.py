"""A bounded, insertion-ordered map of 64-bit keys to 64-bit values, in flat arrays (no object per entry).

The eventer remembers the last 20 000 event versions it exported and the last count of 20 000 events.
In a ``dict`` each entry costs a Python int for the key (48 bytes under the C allocator) and ~36 bytes
of table: ~1.6 MiB per memory when full. :class:`KeyTable` holds the same in three arrays, about
33 bytes an entry (~0.65 MiB for 20 000), and grows them only as it fills. Keys are expected to be
hashes (BLAKE2b digests): a key's slot in the index is its low bits.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator

KEY_LIMIT = 1 << 64
"""Keys are unsigned 64-bit integers."""
VALUE_LIMIT = (1 << 64) - 1
"""Values are unsigned 64-bit integers below this (the top value marks a forgotten entry)."""
_DEAD = VALUE_LIMIT


class KeyTable:
    """Up to ``capacity`` keys with a value each, oldest first; :meth:`put` forgets the oldest beyond capacity.

    Entries live in a ring of ``capacity`` plus a quarter slots (``_keys``, ``_values``), in the
    order they were put; an index (linear probing, ``int32`` ring positions) finds a key. Putting a
    key again, or popping it, leaves a dead slot that the ring skips; when dead slots fill the spare
    quarter the ring is compacted (once per that many moves).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            msg = "capacity must be at least 1"
            raise ValueError(msg)
        self.capacity = capacity
        self._slots = capacity + max(capacity // 4, 8)
        self._keys = array("Q")
        self._values = array("Q")
        self._head = 0
        """Ring position of the oldest slot in use."""
        self._tail = 0
        """Ring position the next entry goes to (while the ring grows: its length)."""
        self._used = 0
        """Slots between head and tail: live entries and dead ones."""
        self._live = 0
        self._index = array("i", bytes(4 * 16))
        self._mask = 15

    def __len__(self) -> int:
        return self._live

    def __contains__(self, key: int) -> bool:
        return self._find(key) >= 0

    def get(self, key: int) -> int | None:
        """The value of ``key``, or ``None``."""
        slot = self._find(key)
        return None if slot < 0 else self._values[self._index[slot] - 1]

    def put(self, key: int, value: int) -> None:
        """Set ``key`` to ``value`` as the newest entry; forget the oldest beyond capacity."""
        if not 0 <= value < VALUE_LIMIT:
            msg = f"value {value} out of range"
            raise OverflowError(msg)
        if not 0 <= key < KEY_LIMIT:
            msg = f"key {key} out of range"
            raise OverflowError(msg)
        slot = self._find(key)
        if slot >= 0:  # put again: its old slot dies (as in pop), and the key's index slot may move
            self._values[self._index[slot] - 1] = _DEAD
            self._live -= 1
            self._unindex(slot)
            slot = self._find(key)
        if self._used == self._slots:
            self._compact()
            slot = self._find(key)
        position = self._tail
        if position == len(self._keys):
            self._keys.append(key)
            self._values.append(value)
        else:
            self._keys[position] = key
            self._values[position] = value
        self._tail = (position + 1) % self._slots
        self._used += 1
        self._live += 1
        if 2 * self._live > self._mask:
            self._rebuild_index(2 * (self._mask + 1))
        else:
            self._index[~slot] = position + 1  # the empty slot the one look-up found (no second probe)
        if self._live > self.capacity:
            self._forget_oldest()

    def pop(self, key: int) -> int | None:
        """Forget ``key``; its value, or ``None`` if it was not there."""
        slot = self._find(key)
        if slot < 0:
            return None
        position = self._index[slot] - 1
        value = self._values[position]
        self._values[position] = _DEAD
        self._live -= 1
        self._unindex(slot)
        return value

    def items(self) -> Iterator[tuple[int, int]]:
        """``(key, value)`` pairs, oldest first."""
        keys, values = self._keys, self._values
        for position in self._positions():
            value = values[position]
            if value != _DEAD:
                yield keys[position], value

    def arrays(self) -> tuple[array[int], array[int]]:
        """Copies of the keys and the values, oldest first (``array('Q')`` each)."""
        keys, values = self._keys, self._values
        if self._used == self._live:  # no dead slot: one or two slices
            if self._head < self._tail or self._used == 0:
                return keys[self._head:self._head + self._used], values[self._head:self._head + self._used]
            return keys[self._head:] + keys[:self._tail], values[self._head:] + values[:self._tail]
        live = [p for p in self._positions() if values[p] != _DEAD]
        return array("Q", [keys[p] for p in live]), array("Q", [values[p] for p in live])

    # --- the ring -----------------------------------------------------------------------------------------------
    def _positions(self) -> Iterator[int]:
        head, slots = self._head, self._slots
        for offset in range(self._used):
            yield (head + offset) % slots

    def _forget_oldest(self) -> None:
        keys, values, slots = self._keys, self._values, self._slots
        while values[self._head] == _DEAD:
            self._head = (self._head + 1) % slots
            self._used -= 1
        key = keys[self._head]
        self._values[self._head] = _DEAD
        self._live -= 1
        self._unindex(self._find(key))
        self._head = (self._head + 1) % slots
        self._used -= 1

    def _compact(self) -> None:
        """Dead slots fill the ring: keep the live entries only, from position 0."""
        self._keys, self._values = self.arrays()
        self._head, self._tail = 0, len(self._keys)
        self._used = self._live
        self._rebuild_index(self._mask + 1)

    # --- the index ----------------------------------------------------------------------------------------------
    def _find(self, key: int) -> int:
        """The index slot holding ``key``, or ``~slot`` of the empty slot where it would go."""
        index, keys, mask = self._index, self._keys, self._mask
        slot = key & mask
        while True:
            entry = index[slot]
            if entry == 0:
                return ~slot
            if keys[entry - 1] == key:
                return slot
            slot = (slot + 1) & mask

    def _unindex(self, slot: int) -> None:
        """Empty an index slot, moving later entries of the probe run back (no tombstones)."""
        index, keys, mask = self._index, self._keys, self._mask
        hole = slot
        while True:
            slot = (slot + 1) & mask
            entry = index[slot]
            if entry == 0:
                break
            home = keys[entry - 1] & mask
            # The entry may move to the hole unless its home lies cyclically in (hole, slot].
            if (hole < slot and (home <= hole or home > slot)) or (hole > slot and slot < home <= hole):
                index[hole] = entry
                hole = slot
        index[hole] = 0

    def _rebuild_index(self, size: int) -> None:
        self._index = array("i", bytes(4 * size))
        self._mask = size - 1
        index, keys, values, mask = self._index, self._keys, self._values, self._mask
        for position in self._positions():
            if values[position] != _DEAD:
                slot = keys[position] & mask
                while index[slot]:
                    slot = (slot + 1) & mask
                index[slot] = position + 1
