"""The sink queue flags: defaults in memory and on disk, sizes, usage errors, and the queues heapster builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from heapster.app import build_daemon
from heapster.cli import main
from heapster.errors import RuntimeFailure, UsageError
from heapster.flags import (
    DISK_QUEUE_AGE,
    DISK_QUEUE_BYTES,
    SinkQueueBounds,
    byte_size,
    heapster_parser,
    parse_flags,
    sink_queue_bounds,
    validate_heapster,
)
from heapster.queuestore import queue_file
from heapster.settings import HeapsterSettings, SinkQueueFlags
from heapster.uri import without_queue_options


def settings_for(*argv: str) -> dict[str, object]:
    return parse_flags(heapster_parser(), ["--source=static:?nodes=1", *argv], validate_heapster)


def test_sizes_take_binary_and_decimal_suffixes() -> None:
    assert byte_size("1048576") == 1024**2
    assert byte_size("512Mi") == 512 * 1024**2
    assert byte_size("2Gi") == 2 * 1024**3
    assert byte_size("100M") == 100_000_000


@pytest.mark.parametrize(("argv", "expected"), [
    (["--sink_queue_size=0"], "--sink_queue_size must be at least 1"),
    (["--sink_queue_max_bytes=1Gi"], "--sink_queue_max_bytes needs --sink_queue_dir"),
    (["--sink_queue_dir=/tmp/q", "--sink_queue_max_bytes=lots"], "invalid size 'lots'"),
    (["--sink_queue_max_age=0s"], "--sink_queue_max_age must be positive"),
])
def test_bad_queue_flags_exit_2_with_one_line(argv: list[str], expected: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--source=static:", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err


async def test_sinks_get_queues_on_disk_and_the_store_one_in_memory(tmp_path: Path) -> None:
    settings = settings_for("--sink=log", f"--sink_queue_dir={tmp_path}")
    daemon = await build_daemon(settings)
    try:
        log_queue, store_queue = daemon.queues  # the --sink, then the in-memory metric store
        assert log_queue.durable and not store_queue.durable
        assert (log_queue.capacity, log_queue.max_bytes, log_queue.max_age) == (100_000, DISK_QUEUE_BYTES,
                                                                               DISK_QUEUE_AGE)
        assert store_queue.max_bytes is None
        # The store's write always ends (a timeout would only make the retry write the batch twice).
        assert log_queue.export_timeout == 20.0 and store_queue.export_timeout is None
        assert log_queue._store.description == str(queue_file(tmp_path, "metrics", "log"))
        with pytest.raises(RuntimeFailure, match="in use by another process"):
            await build_daemon(settings)
    finally:
        for queue in daemon.queues:
            await queue.close(0)
        await daemon.source.close()


async def test_queues_stay_in_memory_without_the_directory() -> None:
    daemon = await build_daemon(settings_for("--sink=log"))
    try:
        assert [q.durable for q in daemon.queues] == [False, False]
        assert daemon.queues[0].capacity == 15 and daemon.queues[0].max_age is None
    finally:
        for queue in daemon.queues:
            await queue.close(0)
        await daemon.source.close()


async def test_a_sink_uri_can_put_its_own_queue_on_disk(tmp_path: Path) -> None:
    daemon = await build_daemon(settings_for(f"--sink=log:?queue_dir={tmp_path}&queue_max_age=1h&queue_size=50"))
    try:
        log_queue, store_queue = daemon.queues
        assert log_queue.durable and not store_queue.durable
        assert (log_queue.capacity, log_queue.max_bytes, log_queue.max_age) == (50, DISK_QUEUE_BYTES, 3600.0)
        assert log_queue._store.description.startswith(str(tmp_path))
        assert store_queue.capacity == 15
    finally:
        for queue in daemon.queues:
            await queue.close(0)
        await daemon.source.close()


@pytest.mark.parametrize(("sink", "expected"), [
    ("log:?queue_size=0", "the sink option queue_size must be at least 1"),
    ("log:?queue_max_bytes=1Gi", "the sink option queue_max_bytes needs --sink_queue_dir or queue_dir"),
    ("log:?queue_max_bytes=lots&queue_dir=/tmp/q", "bad value 'lots' for option 'queue_max_bytes' of sink 'log'"),
    ("log:?colour=red", "valid options: queue_dir, queue_max_age, queue_max_bytes, queue_size"),
])
def test_bad_queue_options_of_a_sink_exit_2(sink: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--source=static:", f"--sink={sink}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err


@pytest.mark.parametrize(("uri", "identity"), [
    ("log:?queue_dir=/a&queue_size=2", "log"),
    ("influxdb:http://h:8086?db=k8s&queue_dir=/x&pw=1", "influxdb:http://h:8086?db=k8s&pw=1"),
    ("influxdb:http://h?queue_max_age=1h&db=k", "influxdb:http://h?db=k"),
    ("influxdb:http://h?db=k", "influxdb:http://h?db=k"),
])
def test_the_identity_of_a_sink_leaves_out_its_queue_options(uri: str, identity: str) -> None:
    assert without_queue_options(uri) == identity


def test_queue_flags_reach_their_consumers_typed_and_uri_options_win() -> None:
    settings = HeapsterSettings.of(settings_for("--sink_queue_size=7", "--sink_queue_max_age=90s"))
    flags = settings.sink_queue_flags
    assert flags == SinkQueueFlags(size=7, dir="", max_bytes=None, max_age=90.0)
    assert sink_queue_bounds(flags, 60) == SinkQueueBounds("", 7, None, 90.0)
    assert sink_queue_bounds(flags, 60, {"queue_size": 3}) == SinkQueueBounds("", 3, None, 90.0)
    assert sink_queue_bounds(SinkQueueFlags(), 60) == SinkQueueBounds("", 60, None, None)
    with pytest.raises(UsageError, match="the sink option queue_max_bytes needs --sink_queue_dir"):
        sink_queue_bounds(flags, 60, {"queue_max_bytes": 10})
