"""Compact label sets: ordinary dicts, equal to what was given, sharing one key table per key schema."""

from __future__ import annotations

import json
import pickle
import platform
import sys

import pytest

from heapster.labelsets import MAX_KEYS, compact

CONTAINER = {"nodename": "n1", "hostname": "n1", "host_id": "", "type": "pod_container", "pod_id": "uid-1",
             "pod_name": "web-1", "namespace_name": "default", "container_name": "app",
             "container_base_image": "nginx:1", "labels": "app:web", "namespace_id": "ns-uid"}


def test_a_compacted_set_is_an_equal_dict_in_the_same_order() -> None:
    found = compact(dict(CONTAINER))
    assert type(found) is dict
    assert found == CONTAINER
    assert list(found.items()) == list(CONTAINER.items())
    assert json.dumps(found) == json.dumps(CONTAINER)
    assert list(pickle.loads(pickle.dumps(found)).items()) == list(CONTAINER.items())
    assert list({**found, "extra": "1"}) == [*CONTAINER, "extra"]


def test_sets_of_one_schema_in_other_orders_keep_their_own_order() -> None:
    reordered = dict(reversed(list(CONTAINER.items())))
    first, second = compact(dict(CONTAINER)), compact(reordered)
    assert list(first) == list(CONTAINER)
    assert list(second) == list(reordered)


@pytest.mark.skipif(platform.python_implementation() != "CPython", reason="key-sharing dicts are CPython's")
def test_a_compacted_set_holds_no_key_table_of_its_own() -> None:
    plain = dict(CONTAINER)
    # CPython gives a schema's first sets spare value slots (it is still learning the keys): look at a later one
    found = [compact({**CONTAINER, "pod_name": f"web-{n}"}) for n in range(40)][-1]
    assert sys.getsizeof(found) < sys.getsizeof(plain) // 2


def test_a_compacted_set_can_still_change() -> None:
    found = compact(dict(CONTAINER))
    found["pod_id"] = "uid-2"
    found["added"] = "yes"
    del found["labels"]
    assert found == {**{k: v for k, v in CONTAINER.items() if k != "labels"}, "pod_id": "uid-2", "added": "yes"}
    assert compact(dict(CONTAINER)) == CONTAINER  # the schema's other sets are not affected


def test_keys_named_as_attributes_of_every_object_are_plain_keys() -> None:
    labels = {"__class__": "x", "__dict__": "y", "a": "b"}
    found = compact(dict(labels))
    assert type(found) is dict
    assert list(found.items()) == list(labels.items())


@pytest.mark.parametrize("labels", [
    {f"k{n}": "v" for n in range(MAX_KEYS + 1)},
    {1: "not a string key"},
])
def test_sets_that_cannot_be_held_so_are_given_back_as_they_are(labels: dict) -> None:  # type: ignore[type-arg]
    assert compact(labels) is labels


def test_an_empty_set() -> None:
    assert compact({}) == {}
