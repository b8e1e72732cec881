"""Bytes for queued batches: what the on-disk sink queue stores and reads back after a restart.

Each codec is two functions behind :class:`Codec`, so the batch layout can change without the
queue noticing. The encoding is compact JSON (orjson) compressed with zlib at its fastest level:
label dicts repeat the same names and values thousands of times per batch, which zlib shrinks
many times over (``bench/durable_queue_bench.py --codec-only`` prints the figures).
"""

from __future__ import annotations

import base64
import zlib
from datetime import datetime
from typing import Any, Protocol, TypeVar

import orjson

from heapster.model import DataBatch, EventBatch, MetricType
from heapster.timefmt import EPOCH, epoch_micros, from_epoch_micros

T = TypeVar("T")

_LEVEL = 1
"""zlib's fastest level: most of the gain on this repetitive data, at a fraction of the CPU."""


class Codec(Protocol[T]):
    """Turns one queued item into bytes and back; ``decode(encode(x))`` equals ``x``."""

    def encode(self, item: T) -> bytes:
        """The item as bytes."""
        ...

    def decode(self, data: bytes) -> T:
        """The item back from :meth:`encode`'s bytes."""
        ...


def micros(ts: datetime | None) -> int | None:
    """Microseconds since the epoch, exactly (no float rounding); None stays None."""
    return None if ts is None else epoch_micros(ts)


def from_micros(value: int | None) -> datetime | None:
    """The inverse of :func:`micros`: an aware UTC datetime."""
    return None if value is None else from_epoch_micros(value)


def pack(document: Any) -> bytes:
    """Compact JSON, zlib-compressed."""
    return zlib.compress(orjson.dumps(document), _LEVEL)


def unpack(data: bytes) -> Any:
    """The document :func:`pack` wrote."""
    return orjson.loads(zlib.decompress(data))


class DataBatchCodec:
    """A :class:`DataBatch` from its columns (:class:`heapster.columns.ColumnBatch`): the entity table
    and one array per metric, no Python object per value either way.

    Arrays are stored as their raw little-endian bytes, base64 in the compressed JSON document
    (JSON lists of numbers cost far more CPU; latin-1 text escapes every zero byte as six).
    """

    def encode(self, item: DataBatch) -> bytes:
        columns = item.columns
        return pack([micros(item.timestamp), columns.keys, columns.labels, _array(columns.types),
                     _array(columns.collection_start), _array(columns.create_time), _array(columns.scrape_time),
                     {name: _column(c) for name, c in columns.values.items()},
                     _array(columns.series_entity), columns.series_labels,
                     {name: _column(c) for name, c in columns.labeled.items()}])

    def decode(self, data: bytes) -> DataBatch:
        from heapster.columns import ColumnBatch

        (stamp, keys, labels, types, starts, created, scraped, values, series_entity, series_labels,
         labeled) = unpack(data)
        columns = ColumnBatch()
        columns.keys = keys
        columns.labels = labels
        columns.types = _from_array(types)
        columns.collection_start = _from_array(starts)
        columns.create_time = _from_array(created)
        columns.scrape_time = _from_array(scraped)
        columns.values = {name: _from_column(c) for name, c in values.items()}
        columns.series_entity = _from_array(series_entity)
        columns.series_labels = series_labels
        columns.labeled = {name: _from_column(c) for name, c in labeled.items()}
        return DataBatch(from_micros(stamp) or EPOCH, columns=columns)


def _array(array: Any) -> list[Any]:
    """``[dtype, base64 of the raw bytes]`` of a numpy array (little-endian)."""
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return [little.dtype.str, base64.b64encode(little.tobytes()).decode("ascii")]


def _from_array(document: list[Any]) -> Any:
    import numpy as np

    dtype, raw = document
    return np.frombuffer(base64.b64decode(raw), dtype=np.dtype(dtype)).copy()


def _column(column: Any) -> list[Any]:
    return [int(column.metric_type), _array(column.data), None if column.ints is None else _array(column.ints)]


def _from_column(document: list[Any]) -> Any:
    from heapster.columns import ValueColumn

    metric_type, data, ints = document
    return ValueColumn(_from_array(data), MetricType(metric_type), None if ints is None else _from_array(ints))


class EventBatchCodec:
    """An :class:`EventBatch` as ``[made at, [event, ...]]``, each event the API server's JSON."""

    def encode(self, item: EventBatch) -> bytes:
        return pack([micros(item.timestamp), item.events])

    def decode(self, data: bytes) -> EventBatch:
        stamp, events = unpack(data)
        return EventBatch(from_micros(stamp) or EPOCH, events)


DATA_BATCH_CODEC = DataBatchCodec()
EVENT_BATCH_CODEC = EventBatchCodec()
