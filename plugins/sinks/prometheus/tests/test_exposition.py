"""Both formats, parsed back by prometheus_client's own parsers (the OpenMetrics one is strict)."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricType, MetricValue
from heapster.testing import synthetic_batch
from heapster_sink_prometheus.exposition import encode_batch, render

STAMP = datetime(2026, 5, 4, 3, 2, 1, 250000, tzinfo=UTC)


def _batch() -> DataBatch:
    batch = DataBatch(timestamp=STAMP)
    batch.metric_sets["namespace:kube-system/pod:web-1"] = MetricSet(
        labels={"type": "pod", "pod_name": "web-1", "namespace_name": "kube-system", "labels": 'app:"w"\nx',
                "pod_id": "", "app.kubernetes.io/part": "shop"},
        values={"cpu/usage_rate": MetricValue(250, MetricType.GAUGE),
                "network/rx": MetricValue(123456, MetricType.CUMULATIVE),
                "memory/page_faults_rate": MetricValue(float("nan"), MetricType.GAUGE)},
        labeled=[LabeledMetric("filesystem/usage", {"resource_id": "/dev/sda1"}, 4096),
                 LabeledMetric("filesystem/usage", {"resource_id": "/dev/sdb1"}, 8192)])
    return batch


def _samples(families: list) -> dict[tuple[str, frozenset[tuple[str, str]]], tuple[float, float | None]]:  # type: ignore[type-arg]
    out = {}
    for fam in families:
        for s in fam.samples:
            ts = s.timestamp
            stamp = float(ts) if ts is not None and not hasattr(ts, "sec") else (ts.sec + ts.nsec / 1e9 if ts else None)
            out[(s.name, frozenset(s.labels.items()))] = (s.value, stamp)
    return out


def test_text_format_parses_with_values_labels_and_batch_timestamp() -> None:
    body = render(encode_batch(_batch()), openmetrics=False).decode()
    samples = _samples(list(parse_text(body)))
    pod = {("type", "pod"), ("pod_name", "web-1"), ("namespace_name", "kube-system"), ("labels", 'app:"w"\nx'),
           ("app_kubernetes_io_part", "shop")}
    assert samples[("heapster_cpu_usage_rate_millicores", frozenset(pod))][0] == 250
    assert samples[("heapster_network_rx_bytes_total", frozenset(pod))][0] == 123456
    assert samples[("heapster_filesystem_usage_bytes", frozenset(pod | {("resource_id", "/dev/sdb1")}))][0] == 8192
    nan = samples[("heapster_memory_page_faults_rate", frozenset(pod))][0]
    assert nan != nan
    assert "# TYPE heapster_network_rx_bytes_total counter" in body
    assert " 1777863721250\n" in body  # milliseconds
    assert len(samples) == 5


def test_openmetrics_parses_strictly_with_units_and_eof() -> None:
    body = render(encode_batch(_batch()), openmetrics=True).decode()
    assert body.endswith("# EOF\n")
    families = {f.name: f for f in parse_openmetrics(body)}
    assert families["heapster_network_rx_bytes"].type == "counter"
    assert families["heapster_network_rx_bytes"].unit == "bytes"
    assert families["heapster_cpu_usage_rate_millicores"].unit == "millicores"
    samples = _samples(list(families.values()))
    value, stamp = next(v for (name, _), v in samples.items() if name == "heapster_network_rx_bytes_total")
    assert (value, stamp) == (123456, 1777863721.25)


def test_without_timestamps_and_a_big_synthetic_batch_keep_every_series() -> None:
    batch = synthetic_batch(STAMP, nodes=3, pods=4, containers=2)
    expected = sum(len(s.values) + len(s.labeled) for s in batch.metric_sets.values())
    samples = encode_batch(batch)
    assert samples.count == expected
    text = render(samples, openmetrics=False, timestamps=False).decode()
    parsed = _samples(list(parse_text(text)))
    assert len(parsed) == expected
    assert all(stamp is None for _, stamp in parsed.values())
    assert len(_samples(list(parse_openmetrics(render(samples, openmetrics=True).decode())))) == expected
