"""One batch as remote-write requests: Prometheus series named as the ``prometheus`` sink names them,
``max_series`` per request, each a snappy-compressed ``WriteRequest``.

The label blocks of a metric set, the ``__name__`` label of a family and the metadata are serialized
by the ``prompb`` messages; only the framing that repeats per series (``WriteRequest.timeseries``
entry, ``TimeSeries.samples`` with its double and timestamp) is written here: building one message per
series in Python encoded 120 000-140 000 series per CPU second, this 230 000 (300 nodes x 30 pods x 2
containers; tests check the result equals the plain message-per-series encoding). The batch is read
from its columns (no ``MetricSet`` objects are built for this sink).
Concatenated serialized messages are one message (protobuf merges repeated fields), so the labels a
set shares are serialized once and reused by each of its series.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass

import cramjam
import numpy as np
import numpy.typing as npt

from heapster.model import DataBatch
from heapster.protowire import length, varint
from heapster_sink_prometheus.names import DEFAULT_PREFIX, Family, family, label_name
from heapster_sink_prometheusremotewrite.prompb import Label, MetricMetadata, TimeSeries, WriteRequest

NAME_LABEL = "__name__"
_KIND = {"counter": MetricMetadata.COUNTER, "gauge": MetricMetadata.GAUGE}
_TIMESERIES_TAG = b"\x0a"  # WriteRequest.timeseries: field 1, length-delimited
_SAMPLES_TAG = b"\x12"  # TimeSeries.samples: field 2, length-delimited
_VALUE_TAG = b"\x09"  # Sample.value: field 1, 64-bit
_TIMESTAMP_TAG = b"\x10"  # Sample.timestamp: field 2, varint
_pack_double = struct.Struct("<d").pack


@dataclass(frozen=True, slots=True)
class EncodedRequest:
    """The compressed body of one write request and how many series it carries."""

    body: bytes
    series: int


def _label_block(pairs: list[tuple[str, str]]) -> bytes:
    """Serialized ``TimeSeries.labels`` entries for the pairs (a ``TimeSeries`` holding only them)."""
    serialized: bytes = TimeSeries(labels=[Label(name=k, value=v) for k, v in pairs]).SerializeToString()
    return serialized


def _sorted_pairs(labels: dict[str, str], extra: dict[str, str] | None = None) -> list[tuple[str, str]]:
    merged = {**labels, **extra} if extra else labels
    return sorted((label_name(k), v) for k, v in merged.items() if v)


def _request(parts: list[bytes], families: list[Family]) -> EncodedRequest:
    """One compressed ``WriteRequest``: the serialized series, then the metadata of their families."""
    metadata = WriteRequest(metadata=[
        MetricMetadata(type=_KIND[f.kind], metric_family_name=f.sample, help=f.help, unit=f.unit)
        for f in dict.fromkeys(families)])
    raw = b"".join(parts) + metadata.SerializeToString()
    return EncodedRequest(bytes(cramjam.snappy.compress_raw(raw)), len(parts))


def _split_blocks(pairs: list[tuple[str, str]]) -> tuple[bytes, bytes]:
    """The label blocks before and after where ``__name__`` sorts."""
    at = bisect_left(pairs, (NAME_LABEL, ""))
    return _label_block(pairs[:at]), _label_block(pairs[at:])


def encode_requests(batch: DataBatch, max_series: int = 2000, prefix: str = DEFAULT_PREFIX) -> Iterator[EncodedRequest]:
    """Every value of the batch as one series with one sample at the batch timestamp (milliseconds).

    Labels are sorted by name (``__name__`` among them), as the receivers expect. Reads the batch's
    columns metric by metric; the series are then sent metric set by metric set (each set's values,
    then its labeled series), the order of Heapster's per-set view, by one stable sort of their rows.
    """
    cols = batch.columns
    stamp = _TIMESTAMP_TAG + varint(int(batch.timestamp.timestamp() * 1000))
    sample_head = _SAMPLES_TAG + length(1 + 8 + len(stamp)) + _VALUE_TAG
    row_blocks = [_split_blocks(_sorted_pairs(labels)) for labels in cols.labels]
    span = cols.series_count + 1  # order key: entity row * span + (0, or 1 + series row)
    parts: list[bytes] = []
    order_keys: list[npt.NDArray[np.int64]] = []
    family_ids: list[npt.NDArray[np.int64]] = []
    families: list[Family] = []

    def encode(rows: list[int], values: list[int | float], fam: Family, blocks: list[tuple[bytes, bytes]],
               keys: npt.NDArray[np.int64]) -> None:
        name = _label_block([(NAME_LABEL, fam.sample)])
        append = parts.append
        for row, value in zip(rows, values, strict=True):
            before, after = blocks[row]
            body = before + name + after + sample_head + _pack_double(value) + stamp
            append(_TIMESERIES_TAG + length(len(body)) + body)
        order_keys.append(keys)
        family_ids.append(np.full(len(rows), len(families), dtype=np.int64))
        families.append(fam)

    for name, metric_type, rows, values in cols.metrics():
        encode(rows, values, family(name, metric_type, prefix), row_blocks, np.array(rows, dtype=np.int64) * span)
    if cols.series_count:
        entities = cols.series_entity.tolist()
        series_blocks = [_split_blocks(_sorted_pairs(cols.labels[entity], own))
                         for entity, own in zip(entities, cols.series_labels, strict=True)]
        series_keys = cols.series_entity.astype(np.int64) * span + np.arange(1, span, dtype=np.int64)
        for name, metric_type, rows, values in cols.labeled_metrics():
            encode(rows, values, family(name, metric_type, prefix), series_blocks,
                   series_keys[np.array(rows, dtype=np.intp)])
    if not parts:
        return
    order = np.argsort(np.concatenate(order_keys), kind="stable")
    ordered_ids = np.concatenate(family_ids)[order].tolist()
    picks = order.tolist()
    for start in range(0, len(picks), max_series):
        chunk = picks[start:start + max_series]
        yield _request([parts[i] for i in chunk], [families[i] for i in ordered_ids[start:start + max_series]])
