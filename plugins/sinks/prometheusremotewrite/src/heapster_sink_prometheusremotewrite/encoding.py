"""One batch as remote-write requests: Prometheus series named as the ``prometheus`` sink names them,
``max_series`` per request, each a snappy-compressed ``WriteRequest``."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass

import cramjam

from heapster.model import DataBatch
from heapster_sink_prometheus.names import DEFAULT_PREFIX, Family, family, label_name
from heapster_sink_prometheusremotewrite.prompb import MetricMetadata, WriteRequest

NAME_LABEL = "__name__"
_KIND = {"counter": MetricMetadata.COUNTER, "gauge": MetricMetadata.GAUGE}


@dataclass(frozen=True, slots=True)
class EncodedRequest:
    """The compressed body of one write request and how many series it carries."""

    body: bytes
    series: int


def _sorted_pairs(labels: dict[str, str], extra: dict[str, str] | None = None) -> list[tuple[str, str]]:
    merged = {**labels, **extra} if extra else labels
    return sorted((label_name(k), v) for k, v in merged.items() if v)


def _finish(request: object, families: dict[Family, None], series: int) -> EncodedRequest:
    for fam in families:
        request.metadata.add(type=_KIND[fam.kind], metric_family_name=fam.sample,  # type: ignore[attr-defined]
                             help=fam.help, unit=fam.unit)
    raw = request.SerializeToString()  # type: ignore[attr-defined]
    return EncodedRequest(bytes(cramjam.snappy.compress_raw(raw)), series)


def encode_requests(batch: DataBatch, max_series: int = 2000, prefix: str = DEFAULT_PREFIX) -> Iterator[EncodedRequest]:
    """Every value of the batch as one series with one sample at the batch timestamp (milliseconds).

    Labels are sorted by name (``__name__`` among them), as the receivers expect.
    """
    stamp = int(batch.timestamp.timestamp() * 1000)
    request = WriteRequest()
    families: dict[Family, None] = {}
    count = 0

    def add(pairs: list[tuple[str, str]], fam: Family, value: float) -> None:
        series = request.timeseries.add()
        labels = series.labels
        at = bisect_left(pairs, (NAME_LABEL, ""))
        for name, text in pairs[:at]:
            labels.add(name=name, value=text)
        labels.add(name=NAME_LABEL, value=fam.sample)
        for name, text in pairs[at:]:
            labels.add(name=name, value=text)
        series.samples.add(value=value, timestamp=stamp)
        families[fam] = None

    for metric_set in batch.metric_sets.values():
        pairs = _sorted_pairs(metric_set.labels)
        for name, value in metric_set.values.items():
            add(pairs, family(name, value.metric_type, prefix), value.value)
            count += 1
            if count >= max_series:
                yield _finish(request, families, count)
                request, families, count = WriteRequest(), {}, 0
        for metric in metric_set.labeled:
            add(_sorted_pairs(metric_set.labels, metric.labels), family(metric.name, metric.metric_type, prefix),
                metric.value)
            count += 1
            if count >= max_series:
                yield _finish(request, families, count)
                request, families, count = WriteRequest(), {}, 0
    if count:
        yield _finish(request, families, count)
