"""Reusing a node's entity table across summaries: every batch is the one a full decode gives, whatever changed."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from heapster.columns import BatchBuilder, ColumnBatch, PendingBatch
from heapster.testing.batches import column_batch_differences
from heapster.testing.fixtures import FIXTURES, shifted
from heapster_source_kubernetes import summary as summary_module
from heapster_source_kubernetes.summary import NodeInfo, SummaryShapes, decode_summary_columns

NODE = NodeInfo("datagen-1-35", "datagen-1-35.host", "i-0abc")
NOW = 1_782_468_900.0  # 2026-06-26T10:15:00Z, the fixture's time


def _summary() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "kubelet-stats-summary-v1.35.json").read_text())
    return data


def _full(body: dict[str, Any], now: float = NOW, node: NodeInfo = NODE) -> ColumnBatch:
    batch = decode_summary_columns(orjson.dumps(body), node, now)
    return BatchBuilder.merge([batch.builder]) if isinstance(batch, PendingBatch) and batch.builder else batch


def _with_shapes(shapes: SummaryShapes, body: dict[str, Any], now: float = NOW, node: NodeInfo = NODE) -> ColumnBatch:
    return decode_summary_columns(orjson.dumps(body), node, now, shapes)


def _assert_decoded_afresh(shapes: SummaryShapes, body: dict[str, Any], now: float) -> None:
    """``body`` decoded with ``shapes`` does not reuse the node's kept table, and equals its full decode."""
    kept = shapes.get(NODE)
    batch = _with_shapes(shapes, body, now)
    assert not (isinstance(batch, PendingBatch) and batch.builder is not None and kept is not None
                and batch.builder._table is kept.table)
    assert column_batch_differences(batch, _full(body, now)) == []


def _first_pod(body: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in body["pods"] if p.get("containers") and p.get("volume"))


def _restart(body: dict[str, Any]) -> None:
    _first_pod(body)["containers"][0]["startTime"] = "2026-06-26T10:14:30Z"


def _new_pod(body: dict[str, Any]) -> None:
    pod = copy.deepcopy(_first_pod(body))
    pod["podRef"] = {**pod["podRef"], "name": "added", "uid": "u-added"}
    body["pods"].append(pod)


def _drop_pod(body: dict[str, Any]) -> None:
    body["pods"].remove(_first_pod(body))


def _swap_pods(body: dict[str, Any]) -> None:
    body["pods"].reverse()


def _rename_volume(body: dict[str, Any]) -> None:
    _first_pod(body)["volume"][0]["name"] = "other"


def _add_volume(body: dict[str, Any]) -> None:
    volumes = _first_pod(body)["volume"]
    volumes.append({**volumes[0], "name": "added"})


def _drop_volumes(body: dict[str, Any]) -> None:
    del _first_pod(body)["volume"]


def _volume_name_not_text(body: dict[str, Any]) -> None:
    _first_pod(body)["volume"][0]["name"] = 7


def _drop_logs(body: dict[str, Any]) -> None:
    del _first_pod(body)["containers"][0]["logs"]


def _drop_pod_network(body: dict[str, Any]) -> None:
    del _first_pod(body)["network"]


def _drop_memory(body: dict[str, Any]) -> None:
    del _first_pod(body)["containers"][0]["memory"]


def _accelerator(body: dict[str, Any]) -> None:
    _first_pod(body)["containers"][0]["accelerators"] = [
        {"make": "nvidia", "model": "t4", "id": "gpu-0", "memoryTotal": 16, "memoryUsed": 3, "dutyCycle": 40}]


def _custom(body: dict[str, Any]) -> None:
    _first_pod(body)["containers"][0]["userDefinedMetrics"] = [{"name": "qps", "type": "gauge", "value": 2.5}]


def _duplicate_container(body: dict[str, Any]) -> None:
    containers = _first_pod(body)["containers"]
    containers.append({**copy.deepcopy(containers[0]), "startTime": "2026-06-26T10:14:40Z"})


def _nameless_container(body: dict[str, Any]) -> None:
    containers = _first_pod(body)["containers"]
    containers.insert(1, {**copy.deepcopy(containers[0]), "name": ""})


def _container_name_not_text(body: dict[str, Any]) -> None:
    containers = _first_pod(body)["containers"]
    containers.append({**copy.deepcopy(containers[0]), "name": ["not", "a", "name"]})


def _new_uid(body: dict[str, Any]) -> None:
    _first_pod(body)["podRef"]["uid"] = "recreated"


def _node_restart(body: dict[str, Any]) -> None:
    body["node"]["startTime"] = "2026-06-26T09:00:00Z"


def _start_not_text(body: dict[str, Any]) -> None:
    _first_pod(body)["containers"][0]["startTime"] = 1_782_468_000


def _start_with_newline(body: dict[str, Any]) -> None:
    _first_pod(body)["containers"][0]["startTime"] = "2026-06-26T10:14:30Z\n"


def _bad_time(body: dict[str, Any]) -> None:
    _first_pod(body)["containers"][0]["cpu"]["time"] = ["not", "a", "time"]


def _negative_count(body: dict[str, Any]) -> None:
    _first_pod(body)["containers"][0]["rootfs"]["usedBytes"] = -1


def _count_beyond_int64(body: dict[str, Any]) -> None:
    _first_pod(body)["network"]["rxBytes"] = 1 << 63


def _no_change(body: dict[str, Any]) -> None:
    pass


CHANGES: list[Callable[[dict[str, Any]], None]] = [
    _no_change, _restart, _new_pod, _drop_pod, _swap_pods, _rename_volume, _add_volume, _drop_volumes,
    _volume_name_not_text, _drop_logs, _drop_pod_network,
    _drop_memory, _accelerator, _custom, _duplicate_container, _nameless_container,
    _container_name_not_text, _new_uid, _node_restart, _start_not_text, _start_with_newline, _bad_time,
    _negative_count, _count_beyond_int64,
]


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__.strip("_"))
def test_second_summary_gives_the_full_decode_whatever_changed(change: Callable[[dict[str, Any]], None]) -> None:
    shapes = SummaryShapes()
    first = _summary()
    assert column_batch_differences(_with_shapes(shapes, first), _full(first)) == []
    assert len(shapes) == 1
    second = shifted(first, 10)
    second["node"]["cpu"]["usageCoreNanoSeconds"] += 7
    change(second)
    kept = shapes.get(NODE)
    assert kept is not None
    batch = _with_shapes(shapes, second, NOW + 10)
    reused = isinstance(batch, PendingBatch) and batch.builder is not None and batch.builder._table is kept.table
    # Values only (a container's sample time that is no text is missing there too: its memory's time is used,
    # as the full decode does), or a full decode.
    assert reused == (change in (_no_change, _drop_memory, _bad_time, _negative_count, _count_beyond_int64))
    assert column_batch_differences(batch, _full(second, NOW + 10)) == []
    third = shifted(second, 10)  # and back to a reused table (or a full decode) after the change
    assert column_batch_differences(_with_shapes(shapes, third, NOW + 20), _full(third, NOW + 20)) == []



def test_start_times_that_differ_only_where_they_hold_a_newline_are_not_the_same() -> None:
    # The entity table keeps its start times joined by newlines: two texts with one elsewhere must not pass for them.
    first = _summary()
    pod = _first_pod(first)
    pod["startTime"], pod["containers"][0]["startTime"] = "2026-06-26T10:00:00Z\n", "2026-06-26T10:01:00Z"
    second = shifted(first, 10)
    pod = _first_pod(second)
    pod["startTime"], pod["containers"][0]["startTime"] = "2026-06-26T10:00:00Z", "\n2026-06-26T10:01:00Z"
    shapes = SummaryShapes()
    _with_shapes(shapes, first)
    _assert_decoded_afresh(shapes, second, NOW + 10)
    third = shifted(second, 10)
    assert column_batch_differences(_with_shapes(shapes, third, NOW + 20), _full(third, NOW + 20)) == []


def test_summaries_whose_containers_have_cpu_times_are_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    timed: list[object] = []
    decoder = summary_module._timed_decoder

    class Counting:
        def decode(self, raw: bytes) -> object:
            timed.append(raw)
            return decoder.decode(raw)

    monkeypatch.setattr(summary_module, "_timed_decoder", Counting())
    shapes = SummaryShapes()
    first = _summary()
    _with_shapes(shapes, first)
    second = shifted(first, 10)
    batch = _with_shapes(shapes, second, NOW + 10)
    assert isinstance(batch, PendingBatch) and batch.builder is not None
    kept = shapes.get(NODE)
    assert kept is not None and batch.builder._table is kept.table
    assert timed == []  # no container needed its memory time: one parse each, without memory times
    _bad_time(second)
    assert column_batch_differences(_with_shapes(shapes, second, NOW + 10), _full(second, NOW + 10)) == []
    assert len(timed) == 2  # the values-only decode and the full decode each parsed it again, with memory times


def test_enriching_a_batch_leaves_the_kept_table_alone_and_label_sets_are_shared() -> None:
    shapes = SummaryShapes()
    first = _with_shapes(shapes, _summary())
    given = list(first.labels)
    first.labels[:] = [{**labels, "added_by_enricher": "x"} for labels in first.labels]  # as enrichers do
    first.keys.append("extra")
    second = _with_shapes(shapes, shifted(_summary(), 10), NOW + 10)
    assert all("added_by_enricher" not in labels for labels in second.labels)
    assert "extra" not in second.keys
    # The same entities hand out the very label objects of the last summary (read-only, shared), so the
    # enrichers and the store recognize them by identity.
    assert len(second.labels) == len(given)
    assert all(again is before for again, before in zip(second.labels, given, strict=True))
    assert column_batch_differences(second, _full(shifted(_summary(), 10), NOW + 10)) == []


def test_a_window_of_nodes_is_the_concat_of_their_full_decodes() -> None:
    shapes = SummaryShapes()
    nodes = [NodeInfo(f"node-{i}", f"node-{i}.host", "") for i in range(4)]
    bodies = []
    for i, _ in enumerate(nodes):
        body = _summary()
        body["node"]["nodeName"] = f"node-{i}"
        if i == 2:
            _custom(body)  # a column the other nodes lack, first seen at the third node
        if i == 3:
            del body["node"]["memory"]
        bodies.append(body)
    for cycle in range(3):
        now = NOW + 10 * cycle
        current = [shifted(body, 10 * cycle) for body in bodies]
        if cycle == 2:
            _restart(current[1])
        joined = ColumnBatch.concat([_with_shapes(shapes, b, now, n) for b, n in zip(current, nodes, strict=True)])
        want = ColumnBatch.concat([_full(b, now, n) for b, n in zip(current, nodes, strict=True)])
        assert column_batch_differences(joined, want) == []
        assert list(joined.values)[-1] == "custom/qps"  # concat's order: first seen, node by node


def test_forgotten_nodes_are_dropped() -> None:
    shapes = SummaryShapes()
    other = NodeInfo("other", "other", "")
    _with_shapes(shapes, _summary())
    _with_shapes(shapes, _summary(), node=other)
    shapes.keep_only({other})
    assert len(shapes) == 1 and shapes.get(NODE) is None and shapes.get(other) is not None


def test_forgetting_nodes_while_another_thread_keeps_a_new_shape() -> None:
    shapes = SummaryShapes()
    newcomer = NodeInfo("new", "new", "")
    _with_shapes(shapes, _summary(), node=newcomer)
    kept = shapes.get(newcomer)
    shapes.put(newcomer, None)

    class Decoding(NodeInfo):
        """A node whose look-up in ``keep_only`` stands for the scrape thread putting a shape meanwhile."""

        __slots__ = ()

        def __hash__(self) -> int:
            if shapes.get(newcomer) is None and len(shapes):
                shapes.put(newcomer, kept)
            return hash(self.nodename)

        def __eq__(self, other: object) -> bool:
            return isinstance(other, NodeInfo) and other.nodename == self.nodename

    gone = Decoding("gone", "gone", "")
    _with_shapes(shapes, _summary(), node=gone)
    shapes.keep_only({newcomer})  # was: RuntimeError, dictionary changed size during iteration
    assert shapes.get(gone) is None and shapes.get(newcomer) is kept


def test_summaries_that_always_need_the_full_decode_are_not_kept() -> None:
    shapes = SummaryShapes()
    body = _summary()
    _accelerator(body)
    _with_shapes(shapes, body)
    assert len(shapes) == 0


def test_a_volume_without_a_text_name_is_skipped_by_the_values_only_decode_too() -> None:
    shapes = SummaryShapes()
    first = _summary()
    _volume_name_not_text(first)
    assert column_batch_differences(_with_shapes(shapes, first), _full(first)) == []
    kept = shapes.get(NODE)
    assert kept is not None
    second = shifted(first, 10)
    batch = _with_shapes(shapes, second, NOW + 10)
    assert isinstance(batch, PendingBatch) and batch.builder is not None and batch.builder._table is kept.table
    assert column_batch_differences(batch, _full(second, NOW + 10)) == []


def _two_volumes(pod: dict[str, Any], first: str, second: str) -> None:
    pod["volume"] = [{**pod["volume"][0], "name": first}, {**pod["volume"][0], "name": second}]


@pytest.mark.parametrize("case", ["newline", "moved"])
def test_volume_names_that_differ_only_where_they_hold_a_newline_or_by_pod_are_not_the_same(case: str) -> None:
    # The entity table keeps every pod's volume names joined by newlines and each pod's count apart: names with a
    # newline elsewhere, or a name moved to the next pod, must not pass for the same volumes.
    first = _summary()
    pods = [pod for pod in first["pods"] if pod.get("containers") and pod.get("volume")]
    if case == "newline":
        _two_volumes(pods[0], "v\n", "w")
    else:
        _two_volumes(pods[0], "v", "w")
        pods[1]["volume"] = [{**pods[1]["volume"][0], "name": "x"}]
    second = shifted(first, 10)
    pods = [pod for pod in second["pods"] if pod.get("containers") and pod.get("volume")]
    if case == "newline":
        _two_volumes(pods[0], "v", "\nw")
    else:
        pods[0]["volume"] = pods[0]["volume"][:1]
        _two_volumes(pods[1], "w", "x")
    shapes = SummaryShapes()
    assert column_batch_differences(_with_shapes(shapes, first), _full(first)) == []
    _assert_decoded_afresh(shapes, second, NOW + 10)
    third = shifted(second, 10)
    reused = _with_shapes(shapes, third, NOW + 20)  # the same volumes again: the table is reused
    kept = shapes.get(NODE)
    assert isinstance(reused, PendingBatch) and reused.builder is not None and kept is not None
    assert reused.builder._table is kept.table
    assert column_batch_differences(reused, _full(third, NOW + 20)) == []
