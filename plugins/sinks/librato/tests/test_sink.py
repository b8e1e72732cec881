"""Heapster's Librato measurements, options, refusals and secrets, against the strict API double."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from heapster.errors import PermanentError, UsageError
from heapster.interfaces import PluginContext
from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricValue
from heapster.plugins import load_plugins
from heapster.testing import synthetic_batch
from heapster.uri import mask_uri
from heapster_sink_librato.encode import encode_batch
from heapster_sink_librato.testing import LibratoDouble

TS = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def config(query: str):
    return load_plugins().build_metric_sink(f"librato:?{query}", PluginContext()).config


def test_the_docs_example() -> None:
    c = config("username=xyz&token=secret&prefix=k8s&tags=cluster&tag_cluster=staging")
    assert (c.username, c.token, c.prefix, c.tags, c.api) == ("xyz", "secret", "k8s.", {"cluster": "staging"},
                                                              "https://metrics-api.librato.com")
    assert c.measurements_url == "https://metrics-api.librato.com/v1/measurements"
    assert "secret" not in repr(c)


def test_only_listed_tags_are_request_tags() -> None:
    assert config("username=u&token=t&tags=a,b&tag_a=1&tag_c=3").tags == {"a": "1"}


@pytest.mark.parametrize(("query", "named"), [
    ("token=t", "username"), ("username=u", "token"), ("username=u&token=t&api=ftp://x", "api"),
    ("username=u&token=t&tagz=1", "tagz"),
])
def test_bad_uris_name_the_option(query: str, named: str) -> None:
    with pytest.raises(UsageError, match=named):
        config(query)


def test_the_token_is_masked_in_the_uri_logged() -> None:
    masked = mask_uri("librato:?username=xyz&token=secret&prefix=k8s")
    assert "secret" not in masked and "username=xyz" in masked


def test_measurements_are_heapsters() -> None:
    batch = DataBatch(TS, {"n": MetricSet(
        labels={"type": "node", "hostname": "ip-10.0.0.1", "labels": "app:web,kubernetes.io/os:linux", "x": ""},
        values={"cpu/usage": MetricValue(7), "cpu/usage_rate": MetricValue(0.5), "memory/usage": MetricValue(0)},
        labeled=[LabeledMetric("filesystem/usage", {"resource_id": "/dev/sda1"}, 9)])})
    out = {m["name"]: m for m in encode_batch(batch, config("username=u&token=t&prefix=k8s")).measurements}
    assert set(out) == {"k8s.cpu.usage", "k8s.cpu.usage_rate", "k8s.memory.usage", "k8s.filesystem.usage"}
    assert out["k8s.cpu.usage"] == {"name": "k8s.cpu.usage", "value": 7.0, "time": int(TS.timestamp()), "tags": {
        "type": "node", "hostname": "ip-10.0.0.1", "labels": "app:web_kubernetes.io_os:linux"}}
    assert out["k8s.memory.usage"]["value"] == 0.0  # Heapster's omitempty dropped a zero value
    assert out["k8s.filesystem.usage"]["tags"]["resource_id"] == "_dev_sda1"


async def test_big_batches_go_in_requests_of_1000(make_sink, librato: LibratoDouble) -> None:
    sink = await make_sink("tags=cluster&tag_cluster=prod")
    batch = synthetic_batch(TS, nodes=10, pods=10, containers=1)
    expected = len(encode_batch(batch, sink.config).measurements)
    assert expected > 1000
    await sink.export(batch)
    assert len(librato.measurements) == expected
    assert librato.requests == -(-expected // 1000)
    assert all(m.tags["cluster"] == "prod" for m in librato.measurements)
    assert librato.user_agents == {"heapster"}


async def test_bad_credentials_are_permanent_and_never_logged(make_sink, librato: LibratoDouble,
                                                              capsys: pytest.CaptureFixture[str],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    sink = await make_sink(token="wrong-t0ken-value")
    await sink.start()
    with pytest.raises(PermanentError) as caught:
        await sink.export(synthetic_batch(TS, nodes=1, pods=1, containers=1))
    assert "credentials" in str(caught.value) and "wrong-t0ken-value" not in str(caught.value)
    captured = capsys.readouterr()
    logged = captured.out + captured.err + caplog.text  # structlog prints, or logs once heapster configured it
    assert "librato.sink.started" in logged and "wrong-t0ken-value" not in logged
    assert not librato.measurements


async def test_a_measurement_without_tags_is_refused_by_the_api(make_sink, librato: LibratoDouble) -> None:
    sink = await make_sink()
    batch = DataBatch(TS, {"x": MetricSet(labels={}, values={"m": MetricValue(1)})})
    with pytest.raises(PermanentError, match="at least one tag") as caught:
        await sink.export(batch)
    assert caught.value.dropped == 1
