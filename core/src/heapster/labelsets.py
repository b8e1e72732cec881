"""Label sets held compactly: one key table per key schema, shared by every set of those keys in that order.

An entity's label set lives from one change of the entity to the next (the decoder's entity tables, the
enrichers' twins, the store), ~93 of them per node. A plain ``dict`` of 11 string keys takes 464 bytes, most of
it its own hash table of keys. CPython shares one key table between the attribute dicts of the instances of a
class (key-sharing dictionaries, PEP 412): each such dict holds only its values (160 bytes for 11 keys).
:func:`compact` hands out such a dict: an ordinary ``dict`` in every respect (type, equality, order, copying,
pickling, JSON), whose keys live once per schema. A schema is the tuple of keys in order; each gets a small class
of its own, and a set is the (empty) ``__dict__`` of a fresh instance with the labels put in item by item.

Set a compacted dict's existing keys freely; adding a key makes CPython give it a table of its own (still
correct, only as big as a plain dict). Sets this cannot hold so (over ``MAX_KEYS`` keys, a key that is not a
plain ``str``, past ``MAX_SCHEMAS`` schemas) are given back as they are; other interpreters give equal dicts
without the saving.
"""

from __future__ import annotations

MAX_KEYS = 30
"""CPython shares key tables of at most 30 keys."""
MAX_SCHEMAS = 4096
"""Schemas remembered (a class each, ~1 KiB); beyond them, sets are left as they are."""

_HOLDERS: dict[tuple[str, ...], type] = {}


def _holder(schema: tuple[str, ...]) -> type | None:
    """The class whose instances' dicts share the key table of ``schema`` (None: not to be held so)."""
    if len(schema) > MAX_KEYS or len(_HOLDERS) >= MAX_SCHEMAS or any(type(key) is not str for key in schema):
        return None
    holder: type = type("LabelSet", (), {"__module__": __name__})
    return _HOLDERS.setdefault(schema, holder)


def compact(labels: dict[str, str]) -> dict[str, str]:
    """A dict equal to ``labels`` (same keys, order and values) that shares its key table with every other
    compacted set of the same keys in the same order; ``labels`` itself when it cannot be held so."""
    schema = tuple(labels)
    holder = _HOLDERS.get(schema)
    if holder is None:
        holder = _holder(schema)
        if holder is None:
            return labels
    found: dict[str, str] = holder().__dict__  # empty, sharing the schema's key table (the instance is let go)
    for key, value in labels.items():
        found[key] = value  # item by item: ``update`` into an empty dict would give it a table of its own
    return found
