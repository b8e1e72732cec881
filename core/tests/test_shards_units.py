"""--shard parsing, EndpointSlice peers, partial sums and their combination, and answer merging."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from heapster import keys
from heapster.columns import CLUSTER, NAMESPACE
from heapster.model import DataBatch
from heapster.shards import merge
from heapster.shards.discovery import Peers, PeerService, shard_urls
from heapster.shards.partials import PartialsBook, combine, split_aggregates
from heapster.shards.spec import ShardSpecError, parse_shard
from heapster.testing.batches import synthetic_batch
from heapster.testing.net import async_wait_until
from heapster.testing.shards import aggregated, shard_of

NOW = datetime(2026, 1, 2, 3, 4, 50, tzinfo=UTC)


# --- --shard ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [("0/1", (0, 1)), ("2/3", (2, 3))])
def test_explicit_shard(text: str, expected: tuple[int, int]) -> None:
    assert parse_shard(text, {}) == expected


def test_auto_shard_from_pod_name_or_hostname() -> None:
    assert parse_shard("auto/3", {"POD_NAME": "heapster-2"}) == (2, 3)
    assert parse_shard("auto/4", {}, hostname=lambda: "metrics-heapster-1") == (1, 4)


@pytest.mark.parametrize(("text", "env", "message"), [
    ("3/3", {}, "need 0 <= I < N"),
    ("a/3", {}, "I must be an integer or 'auto'"),
    ("1/x", {}, "N must be an integer"),
    ("1", {}, "missing /N"),
    ("0/0", {}, "need N >= 1"),
    ("auto/3", {"POD_NAME": "heapster"}, "'heapster' (from $POD_NAME) does not end in -<ordinal>"),
    ("auto/3", {"POD_NAME": "heapster-3"}, "ordinal 3, not below N=3"),
])
def test_bad_shard_names_the_bad_part(text: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ShardSpecError) as caught:
        parse_shard(text, env, hostname=lambda: "host")
    assert "invalid shard" in str(caught.value)
    assert message in str(caught.value)


# --- peers --------------------------------------------------------------------------------------------------
def _slice(name: str, address: str, port: int, ready: bool | None = True, port_name: str = "http") -> dict:
    endpoint: dict = {"addresses": [address], "hostname": name}
    if ready is not None:
        endpoint["conditions"] = {"ready": ready}
    return {"endpoints": [endpoint], "ports": [{"name": port_name, "port": port}]}


def test_shard_urls_from_ready_endpoints() -> None:
    service = PeerService("ns", "heapster")
    slices = [_slice("heapster-0", "10.0.0.1", 8082), _slice("heapster-1", "fd00::1", 8082, ready=None),
              _slice("heapster-2", "10.0.0.3", 8082, ready=False), _slice("heapster", "10.0.0.4", 8082),
              {"endpoints": [{"addresses": ["10.0.0.5"], "targetRef": {"name": "heapster-3"}}],
               "ports": [{"port": 9}]}]
    assert shard_urls(slices, service) == {0: "http://10.0.0.1:8082", 1: "http://[fd00::1]:8082",
                                           3: "http://10.0.0.5:9"}
    named = PeerService("ns", "heapster", port_name="api", scheme="https")
    assert shard_urls([_slice("heapster-0", "10.0.0.1", 1, port_name="metrics"),
                       _slice("heapster-1", "10.0.0.2", 2, port_name="api")], named) == {1: "https://10.0.0.2:2"}


class _Slices:
    def __init__(self, slices: list[dict]) -> None:
        self._slices = slices

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def slices(self) -> list[dict]:
        return self._slices


def test_peers_leave_out_this_shard_and_unknown_ordinals() -> None:
    watch = _Slices([_slice(f"heapster-{i}", f"10.0.0.{i + 1}", 80) for i in range(5)])
    peers = Peers(1, 3, watch, PeerService("ns", "heapster"))
    assert peers.others == [0, 2]
    assert peers.urls() == {0: "http://10.0.0.1:80", 2: "http://10.0.0.3:80"}
    # TLS: a peer's certificate must name its stable DNS name in the headless Service (its address without one)
    assert peers.server_names() == {0: "heapster-0.heapster.ns.svc", 2: "heapster-2.heapster.ns.svc"}
    unnamed = {"endpoints": [{"addresses": ["10.0.0.9"], "targetRef": {"name": "heapster-0"}}], "ports": [{"port": 1}]}
    assert Peers(1, 3, _Slices([unnamed]), PeerService("ns", "heapster")).server_names() == {0: "10.0.0.9"}
    assert Peers(1, 3, None, None).urls() == {}


# --- partial sums -------------------------------------------------------------------------------------------
def test_combined_partials_equal_the_whole_clusters_aggregates() -> None:
    def fresh() -> DataBatch:
        return synthetic_batch(NOW, nodes=7, pods=5, namespaces=("default", "kube-system", "apps"))

    whole = aggregated(fresh()).columns
    partials = []
    rests = 0
    for index in range(3):
        rest, partial = split_aggregates(aggregated(shard_of(fresh(), index, 3)).columns)
        assert not set(rest.types.tolist()) & {NAMESPACE, CLUSTER}
        rests += len(rest)
        partials.append(partial)
    assert {keys.CLUSTER_KEY, "namespace:default"} <= set(partials[0])
    combined = combine(partials)
    expected_rows = [r for r, t in enumerate(whole.types.tolist()) if t in (NAMESPACE, CLUSTER)]
    assert rests + len(expected_rows) == len(whole)
    assert sorted(combined.keys) == sorted(whole.keys[r] for r in expected_rows)
    for key in combined.keys:
        got, want = combined.row_of(key), whole.row_of(key)
        assert got is not None and want is not None
        assert combined.labels[got] == whole.labels[want]
        want_values = {n: c.cell(want) for n, c in whole.values.items() if c.cell(want) is not None}
        got_values = {n: c.cell(got) for n, c in combined.values.items() if c.cell(got) is not None}
        assert got_values.keys() == want_values.keys()
        for name, value in want_values.items():
            assert type(got_values[name]) is type(value), name  # a sum of ints stays an int
            assert got_values[name] == pytest.approx(value, rel=1e-12)


def test_combine_sums_ints_as_ints_and_mixed_as_float() -> None:
    a = {"cluster": {"labels": {"type": "cluster"}, "values": {"m": [2, 1], "f": [1, 1]}}}
    b = {"cluster": {"labels": {"type": "cluster"}, "values": {"m": [3, 1], "f": [0.5, 1]}},
         "namespace:x": {"labels": {"type": "ns", "namespace_name": "x"}, "values": {"m": [7, 1]}}}
    cols = combine([a, b])
    row = cols.row_of("cluster")
    assert row is not None
    assert cols.values["m"].cell(row) == 5 and isinstance(cols.values["m"].cell(row), int)
    assert cols.values["f"].cell(row) == 1.5
    ns = cols.row_of("namespace:x")
    assert ns is not None and cols.values["m"].cell(ns) == 7


async def test_partials_book_waits_for_a_window_and_gives_up_on_passed_ones() -> None:
    import asyncio

    book = PartialsBook(keep=2)
    waiting = asyncio.ensure_future(book.wait_for(10, 5.0))
    await async_wait_until(lambda: len(book._changed._waiters) == 1, 2, what="the reader waiting")
    await book.put(10, {"cluster": {"labels": {}, "values": {}}})
    assert await waiting == {"cluster": {"labels": {}, "values": {}}}
    assert await book.wait_for(20, 0.01) is None  # not yet there: times out
    skipped = asyncio.ensure_future(book.wait_for(20, 5.0))
    await async_wait_until(lambda: len(book._changed._waiters) == 1, 2, what="the reader waiting")
    await book.put(30, {})
    assert await skipped is None  # a later window came: window 20 never will
    await book.put(40, {})
    assert book.get(10) is None and book.get(30) == {}  # only the last two are kept


# --- merging answers ----------------------------------------------------------------------------------------
def test_merge_kinds() -> None:
    assert merge.union([["b", "a"], [], ["c", "a"]]) == ["a", "b", "c"]
    zero = "0001-01-01T00:00:00Z"
    one = {"metrics": [{"timestamp": "2026-01-01T00:00:10Z", "value": 1}], "latestTimestamp": "2026-01-01T00:00:10Z"}
    assert merge.points([{"metrics": [], "latestTimestamp": zero}, one]) == one
    assert merge.points([{"metrics": [], "latestTimestamp": zero}]) == {"metrics": [], "latestTimestamp": zero}
    empty = {"metrics": [], "latestTimestamp": zero}
    assert merge.pod_list_points([{"items": [empty, one]}, {"items": [one, empty]}]) == {"items": [one, one]}
    assert merge.concat([None, [1], [2]]) == [1, 2] and merge.concat([None, None]) is None
    listed = merge.k8s_list([{"kind": "PodMetricsList", "items": [{"metadata": {"namespace": "b", "name": "x"}}]},
                             {"kind": "PodMetricsList", "items": [{"metadata": {"namespace": "a", "name": "y"}}]}])
    assert [i["metadata"]["namespace"] for i in listed["items"]] == ["a", "b"]
    assert merge.k8s_list([{"items": None}, {"items": None}]) == {"items": None}  # v1alpha1's empty list


@pytest.mark.parametrize(("canonical", "kind"), [
    ("/api/v1/model/metrics{_slash}", merge.AGGREGATE),
    ("/api/v1/model/metrics/{metric}", merge.AGGREGATE),
    ("/api/v1/model/namespaces{_slash}", merge.AGGREGATE),
    ("/api/v1/model/namespaces/{namespace}/metrics/{metric}", merge.AGGREGATE),
    ("/api/v1/model/namespaces/{namespace}/pods{_slash}", merge.UNION),
    ("/api/v1/model/nodes{_slash}", merge.UNION),
    ("/api/v1/model/nodes/{node}/metrics{_slash}", merge.UNION),
    ("/api/v1/model/nodes/{node}/metrics/{metric}", merge.POINTS),
    ("/api/v1/model/namespaces/{namespace}/pods/{pod}/containers/{container}/metrics/{metric}", merge.POINTS),
    ("/api/v1/model/namespaces/{namespace}/pod-list/{pods}/metrics/{metric}", merge.POD_LIST_POINTS),
    ("/api/v1/model/debug/allkeys{_slash}", merge.UNION),
    ("/api/v1/metric-export{_slash}", merge.CONCAT),
    ("/api/v1/metric-export-schema{_slash}", None),
    ("/apis/metrics.k8s.io/v1beta1/nodes{_slash}", merge.K8S_LIST),
    ("/apis/metrics.k8s.io/v1beta1/nodes/{node}{_slash}", merge.K8S_GET),
    ("/apis/metrics/v1alpha1/namespaces/{namespace}/pods{_slash}", merge.K8S_LIST),
    ("/apis/metrics.k8s.io/v1alpha1/namespaces/{namespace}/pods/{pod}{_slash}", merge.K8S_GET),
    ("/apis/metrics.k8s.io/v1beta1{_slash}", None),
    ("/healthz", None),
    ("/api/v1/nodes{_slash}", None),
])
def test_route_kinds(canonical: str, kind: str | None) -> None:
    assert merge.route_kind(canonical) == kind


def test_aggregator_roles() -> None:
    from dataclasses import dataclass

    from heapster.shards.role import FirstShard, LeaseHolder

    @dataclass
    class Elector:
        leading: bool = False

    assert FirstShard(0).is_aggregator() and not FirstShard(2).is_aggregator()
    elector = Elector()
    role = LeaseHolder(elector)
    assert not role.is_aggregator()
    elector.leading = True
    assert role.is_aggregator()


def test_a_twin_peer_client_keeps_tls_and_server_names() -> None:
    """The API thread's fan-out uses a twin of the coordinator's client: it must present the same certificate."""
    import ssl

    from heapster.shards.client import PeerClient

    tls = ssl.create_default_context()
    names = {1: "heapster-1.heapster-peers.kube-system.svc"}
    client = PeerClient(2.5, tls, lambda: names)
    twin = client.twin()
    assert twin is not client
    assert (twin.timeout, twin.tls) == (2.5, tls)
    assert twin.server_names is not None and twin.server_names() == names
