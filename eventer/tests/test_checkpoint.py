"""Checkpoint format and the file store."""

from __future__ import annotations

from pathlib import Path

import pytest

from heapster.checkpoint import Checkpoint, FileCheckpointStore
from heapster.errors import RuntimeFailure


def test_resume_position_is_the_oldest_position_of_the_configured_sinks() -> None:
    cp = Checkpoint({"influxdb:x": "120", "elasticsearch:y": "95", "old:z": "3"})
    assert cp.resume_position(["influxdb:x", "elasticsearch:y"]) == "95"
    assert cp.resume_position(["influxdb:x", "new:w"]) == "120"
    assert cp.resume_position(["new:w"]) == "3"  # a new sink alone: start where the old ones were
    assert Checkpoint().resume_position(["a"]) is None


async def test_file_store_round_trip_and_atomic_replace(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "eventer.json"
    store = FileCheckpointStore(path)
    assert await store.load() is None
    await store.save(Checkpoint({"log": "7"}, ["00000000000000ff"], "me"))
    await store.save(Checkpoint({"log": "9"}, [], "me"))
    loaded = await store.load()
    assert loaded == Checkpoint({"log": "9"}, [], "me")
    assert [p.name for p in path.parent.iterdir()] == ["eventer.json"]  # no temporary files left


async def test_a_corrupt_checkpoint_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(RuntimeFailure, match="unreadable"):
        await FileCheckpointStore(path).load()


def test_the_gap_memory_keeps_its_order_and_older_checkpoints_without_it_still_load() -> None:
    memory = {"complete_since": 1.5, "counts": {"00000000000000b2": 3, "00000000000000a1": 1}}
    cp = Checkpoint({"log": "9"}, ["00000000000000ff:12"], "me", memory)
    loaded = Checkpoint.from_json(cp.to_json())
    assert loaded == cp and list(loaded.gap_memory["counts"]) == ["00000000000000b2", "00000000000000a1"]
    old = Checkpoint.from_json('{"version":1,"positions":{"log":"9"},"dedup":["00000000000000ff"],"holder":""}')
    assert old.gap_memory == {} and old.dedup == ["00000000000000ff"]
    with pytest.raises(ValueError, match="malformed"):
        Checkpoint.from_json('{"version":1,"positions":{},"gap_memory":[1]}')
