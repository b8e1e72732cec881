"""The Kubernetes event source against a real HTTP API server (list, watch, 410, bookmarks, resume)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import orjson

from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster.testing.clock import FakeClock
from heapster.testing.net import PATIENCE, async_wait_until
from heapster.timefmt import rfc3339, utc_from_epoch
from heapster_source_kubernetes.events import EventBuffer, KubernetesEventSource

CORE = "/api/v1/events"
NEW = "/apis/events.k8s.io/v1/events"
FakeApiServer = Any  # the ``api_server`` fixture of conftest.py


def core_event(name: str, count: int = 1, namespace: str = "default",
               first: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {"kind": "Event", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": namespace, "uid": "pod-1"},
            "reason": "Pulled", "message": f"{name} x{count}", "count": count,
            "source": {"component": "kubelet", "host": "n1"},
            "firstTimestamp": first, "lastTimestamp": f"2026-01-01T00:00:{count:02d}Z",
            "type": "Normal"}


def source_for(server: FakeApiServer, **kwargs: Any) -> KubernetesEventSource:
    plugins = load_plugins()
    options = "&".join(f"{k}={v}" for k, v in kwargs.items())
    spec = f"kubernetes:{server.url}?inClusterConfig=false" + (f"&{options}" if options else "")
    source = plugins.build_event_source(spec, PluginContext())
    assert isinstance(source, KubernetesEventSource)
    source.backoff_initial = 0.05
    return source


until = functools.partial(async_wait_until, timeout=PATIENCE, interval=0.01)


def watching(server: FakeApiServer, path: str = CORE, count: int = 1) -> Callable[[], bool]:
    return lambda: len([w for w in server._watchers if w[0] == path]) >= count


def messages(batch: Any) -> list[str]:
    return [e["message"] for e in batch.events]


async def test_fresh_start_skips_existing_events_and_exports_added_and_modified(api_server: FakeApiServer) -> None:
    api_server.put(CORE, core_event("old"))
    source = source_for(api_server)
    await source.start()
    try:
        await until(watching(api_server))
        assert messages(await source.get_new_events()) == []
        assert api_server.requests_to(CORE, watch=False)[0]["limit"] == "1"  # only the list's resourceVersion
        api_server.put(CORE, core_event("a"))
        api_server.put(CORE, core_event("a", count=2))
        api_server.put(CORE, core_event("old", count=2))
        await until(lambda: source.buffer_depth == 3)
        batch = await source.get_new_events()
        assert messages(batch) == ["a x1", "a x2", "old x2"]
        assert source.position == str(api_server.rv)
        assert batch.timestamp.tzinfo is not None
        assert messages(await source.get_new_events()) == []
    finally:
        await source.close()


async def test_export_existing_exports_the_first_list(api_server: FakeApiServer) -> None:
    api_server.put(CORE, core_event("old1"))
    api_server.put(CORE, core_event("old2"))
    source = source_for(api_server, export_existing="true")
    await source.start()
    try:
        await until(lambda: source.buffer_depth == 2)
        assert sorted(messages(await source.get_new_events())) == ["old1 x1", "old2 x1"]
    finally:
        await source.close()


async def test_resume_watches_from_the_position_and_gets_every_count_bump(api_server: FakeApiServer) -> None:
    api_server.put(CORE, core_event("a"))
    position = str(api_server.rv)
    api_server.put(CORE, core_event("a", count=2))  # happened while the eventer was down
    api_server.put(CORE, core_event("a", count=3))
    api_server.put(CORE, core_event("b"))
    source = source_for(api_server, export_existing="true")
    source.resume_from(position)
    await source.start()
    try:
        await until(lambda: source.buffer_depth == 3)
        assert messages(await source.get_new_events()) == ["a x2", "a x3", "b x1"]
        assert api_server.requests_to(CORE, watch=False) == []  # no list needed
    finally:
        await source.close()


async def test_an_expired_resume_position_relists_and_keeps_only_what_is_newer(api_server: FakeApiServer) -> None:
    api_server.put(CORE, core_event("a"))
    api_server.put(CORE, core_event("b"))
    position = str(api_server.rv)
    api_server.put(CORE, core_event("a", count=2))
    api_server.put(CORE, core_event("c"))
    api_server.compact()
    source = source_for(api_server)
    source.resume_from(position)
    await source.start()
    try:
        await until(watching(api_server))
        await until(lambda: source.buffer_depth >= 2)
        assert sorted(messages(await source.get_new_events())) == ["a x2", "c x1"]
        assert source.skipped_events == 1  # b, already exported before the restart
    finally:
        await source.close()


async def test_a_relist_in_name_order_hands_out_every_event_of_the_gap(api_server: FakeApiServer) -> None:
    """The list comes in namespace/name order: an early name with a high resourceVersion must not hide
    later names with lower ones (the high-water mark did)."""
    api_server.put(CORE, core_event("m-before"))
    position = str(api_server.rv)
    for name in ("z", "y", "x", "b", "a"):  # resourceVersion order is the reverse of name order
        api_server.put(CORE, core_event(name))
    api_server.put(CORE, core_event("c", namespace="aaa"))  # the newest, listed first of all
    api_server.compact()
    source = source_for(api_server)
    source.resume_from(position)
    await source.start()
    try:
        await until(lambda: source.buffer_depth == 6)
        await until(lambda: source.informer is not None and source.informer.lists == 1)
        assert messages(await source.get_new_events()) == ["c x1", "a x1", "b x1", "x x1", "y x1", "z x1"]
        assert source.skipped_events == 1 and source.lost_events == 0
        assert source.position == str(api_server.rv)
    finally:
        await source.close()


async def test_a_gap_counts_the_count_bumps_the_api_no_longer_holds(api_server: FakeApiServer) -> None:
    api_server.put(CORE, core_event("before", count=3))  # existed before the eventer started
    source = source_for(api_server)
    clock = source.clock = FakeClock(time.time())
    await source.start()
    try:
        await until(watching(api_server))
        api_server.put(CORE, core_event("seen"))
        api_server.put(CORE, core_event("seen", count=2))
        await until(lambda: source.buffer_depth == 2)
        await source.get_new_events()
        api_server.drop_watches()
        later = rfc3339(utc_from_epoch(clock.now() + 2))  # born in the gap, after the last event handed out
        clock._now += 60  # the relist comes a minute later: the gap's events are older than it
        for count in (3, 4, 5):  # 3 and 4 are superseded by 5 before the eventer looks again
            api_server.put(CORE, core_event("seen", count=count))
        for name in ("new", "next"):
            api_server.put(CORE, core_event(name, count=1, first=later))
            api_server.put(CORE, core_event(name, count=2, first=later))  # version 1 is gone too
        api_server.put(CORE, core_event("once", first=later))  # nothing lost
        api_server.put(CORE, core_event("before", count=4))  # was 3 seen by no one? nobody can tell
        api_server.compact()
        await until(lambda: len(api_server.requests_to(CORE, watch=False)) == 2)
        await until(lambda: source.buffer_depth == 5)
        assert sorted(messages(await source.get_new_events())) == [
            "before x4", "new x2", "next x2", "once x1", "seen x5"]
        assert source.lost_events == 4
        assert len(source.gap_memory()["counts"]) == 5  # remembered for the checkpoint
        assert source.gap_memory()["complete_since"] == clock.now()  # the relist is complete
    finally:
        await source.close()


async def test_the_occurrence_memory_survives_a_restart(api_server: FakeApiServer) -> None:
    api_server.put(CORE, core_event("a", count=4))
    position = str(api_server.rv)
    first = source_for(api_server)
    first.resume_from(str(int(position) - 1))
    await first.start()
    try:
        await until(lambda: first.buffer_depth == 1)
        assert first.gap_memory() == {}  # not taken by the eventer yet
        await first.get_new_events()
        saved = first.gap_memory()
    finally:
        await first.close()
    api_server.put(CORE, core_event("a", count=5))
    api_server.put(CORE, core_event("a", count=6))
    api_server.compact()
    second = source_for(api_server)
    second.resume_from(position)
    second.restore_gap_memory({**saved, "counts": {**saved["counts"], "not-hex": 3}})
    await second.start()
    try:
        await until(lambda: second.buffer_depth == 1)
        assert messages(await second.get_new_events()) == ["a x6"]
        assert second.lost_events == 1  # count 5
    finally:
        await second.close()


async def test_a_dropped_watch_resumes_without_loss_or_repeat(api_server: FakeApiServer) -> None:
    source = source_for(api_server)
    await source.start()
    try:
        await until(watching(api_server))
        api_server.put(CORE, core_event("a"))
        await until(lambda: source.buffer_depth == 1)
        api_server.drop_watches()
        api_server.put(CORE, core_event("a", count=2))  # while no watch is open
        await until(lambda: source.buffer_depth == 2)
        api_server.put(CORE, core_event("b"))
        await until(lambda: source.buffer_depth == 3)
        assert messages(await source.get_new_events()) == ["a x1", "a x2", "b x1"]
        assert len(api_server.requests_to(CORE, watch=False)) == 1  # re-watched, not re-listed
    finally:
        await source.close()


async def test_410_during_the_watch_relists_and_repeats_nothing(api_server: FakeApiServer) -> None:
    api_server.put(CORE, core_event("old"))
    source = source_for(api_server)
    await source.start()
    try:
        await until(watching(api_server))
        api_server.put(CORE, core_event("a"))
        await until(lambda: source.buffer_depth == 1)
        assert messages(await source.get_new_events()) == ["a x1"]
        api_server.drop_watches()
        api_server.put(CORE, core_event("a", count=2))
        api_server.put(CORE, core_event("b"))
        api_server.compact()  # the re-watch gets 410 Gone
        await until(lambda: len(api_server.requests_to(CORE, watch=False)) == 2)
        await until(lambda: source.buffer_depth == 2)
        await until(watching(api_server))
        api_server.put(CORE, core_event("c"))
        await until(lambda: source.buffer_depth == 3)
        assert messages(await source.get_new_events()) == ["a x2", "b x1", "c x1"]
    finally:
        await source.close()


async def test_bookmarks_move_the_position(api_server: FakeApiServer) -> None:
    source = source_for(api_server)
    await source.start()
    try:
        await until(watching(api_server))
        api_server.bookmark()
        informer = source.informer
        assert informer is not None
        await until(lambda: informer.resource_version == str(api_server.rv))
        await source.get_new_events()
        assert source.position == str(api_server.rv)
        assert api_server.requests_to(CORE, watch=True)[0]["allowWatchBookmarks"] == "true"
    finally:
        await source.close()


async def test_a_full_buffer_drops_and_counts(api_server: FakeApiServer) -> None:
    source = source_for(api_server, buffer_size=3)
    await source.start()
    try:
        await until(watching(api_server))
        for i in range(5):
            api_server.put(CORE, core_event(f"e{i}"))
        await until(lambda: source.dropped_events == 2)
        assert source.buffer_depth == 3
        assert messages(await source.get_new_events()) == ["e0 x1", "e1 x1", "e2 x1"]
    finally:
        await source.close()


async def test_events_k8s_io_v1_is_watched_and_converted(api_server: FakeApiServer) -> None:
    source = source_for(api_server, events_api="events.k8s.io/v1")
    await source.start()
    try:
        await until(watching(api_server, NEW))
        api_server.put(NEW, {"apiVersion": "events.k8s.io/v1", "kind": "Event",
                             "metadata": {"name": "n", "namespace": "default", "uid": "u-n"},
                             "regarding": {"kind": "Node", "name": "n1"}, "note": "rebooted", "reason": "Rebooted",
                             "type": "Warning", "eventTime": "2026-01-01T00:00:00.000000Z",
                             "reportingController": "kubelet", "reportingInstance": "n1",
                             "deprecatedSource": {"component": "kubelet", "host": "n1"}, "deprecatedCount": 2})
        await until(lambda: source.buffer_depth == 1)
        (ev,) = (await source.get_new_events()).events
        assert ev["apiVersion"] == "v1"
        assert ev["involvedObject"] == {"kind": "Node", "name": "n1"}
        assert (ev["message"], ev["count"], ev["source"]["host"]) == ("rebooted", 2, "n1")
        assert ev["lastTimestamp"] == "2026-01-01T00:00:00.000000Z"
    finally:
        await source.close()


async def test_a_large_list_is_paged_and_handed_out_page_by_page(api_server: FakeApiServer) -> None:
    for i in range(1203):
        api_server.put(CORE, core_event(f"old{i:04d}"))
    source = source_for(api_server, export_existing="true")
    await source.start()
    try:
        await until(lambda: source.buffer_depth == 1203)
        batch = await source.get_new_events()
        assert sorted(messages(batch)) == sorted(f"old{i:04d} x1" for i in range(1203))
        assert [q.get("limit") for q in api_server.requests_to(CORE, watch=False)] == ["500", "500", "500"]
        assert source.position == str(api_server.rv)
    finally:
        await source.close()


async def test_without_a_checkpoint_the_memory_is_not_copied_at_each_drain(api_server: FakeApiServer) -> None:
    api_server.put(CORE, core_event("a", count=4))
    source = source_for(api_server)
    source.resume_from(str(api_server.rv - 1))
    source.keep_gap_memory(False)
    await source.start()
    try:
        await until(lambda: source.buffer_depth == 1)
        assert messages(await source.get_new_events()) == ["a x4"]
        assert source.gap_memory() == {} and len(source.occurrences) == 1
    finally:
        await source.close()


def test_the_buffer_gives_back_every_event_in_order_and_holds_them_compressed() -> None:
    buffer = EventBuffer()
    assert buffer.take() == [] and len(buffer) == 0
    events = [core_event(f"pod-{i}", count=i + 1) for i in range(3000)]
    events[7]["message"] = "two\nlines, ünïcode and a \\ backslash"
    for item in events:
        buffer.append(item)
    assert len(buffer) == 3000
    held = sum(len(chunk) for chunk in buffer._chunks)
    assert held < sum(len(orjson.dumps(item)) for item in events) / 4
    assert buffer.take() == events
    assert len(buffer) == 0 and buffer.take() == []
    buffer.append(events[0])
    assert buffer.take() == [events[0]]
