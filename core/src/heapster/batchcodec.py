"""Bytes for queued batches: what the on-disk sink queue stores and reads back after a restart.

Each codec is two functions behind :class:`Codec`, so the batch layout can change without the
queue noticing. The encoding is compact JSON (orjson) compressed with zlib at its fastest level:
metric sets repeat the same label names and values thousands of times per batch, which zlib
shrinks several times over for a few milliseconds of CPU (``bench/durable_queue_bench.py``
prints the figures).
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import orjson

from heapster.model import DataBatch, EventBatch, LabeledMetric, MetricSet, MetricType, MetricValue

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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
    if ts is None:
        return None
    delta = ts - _EPOCH if ts.tzinfo is not None else ts.replace(tzinfo=UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int | None) -> datetime | None:
    """The inverse of :func:`micros`: an aware UTC datetime."""
    return None if value is None else _EPOCH + timedelta(microseconds=value)


def pack(document: Any) -> bytes:
    """Compact JSON, zlib-compressed."""
    return zlib.compress(orjson.dumps(document), _LEVEL)


def unpack(data: bytes) -> Any:
    """The document :func:`pack` wrote."""
    return orjson.loads(zlib.decompress(data))


class DataBatchCodec:
    """A :class:`DataBatch` as ``[window end, [[key, labels, values, labeled, times...], ...]]``.

    Values keep their Python type (an int stays an int, a float a float) and their metric type.
    """

    def encode(self, item: DataBatch) -> bytes:
        sets = [
            [key, ms.labels,
             {name: [v.value, int(v.metric_type)] for name, v in ms.values.items()},
             [[m.name, m.labels, m.value, int(m.metric_type)] for m in ms.labeled],
             micros(ms.collection_start), micros(ms.create_time), micros(ms.scrape_time)]
            for key, ms in item.metric_sets.items()
        ]
        return pack([micros(item.timestamp), sets])

    def decode(self, data: bytes) -> DataBatch:
        stamp, sets = unpack(data)
        batch = DataBatch(timestamp=from_micros(stamp) or _EPOCH)
        kinds = tuple(MetricType)  # indexing a tuple is ~10x faster than calling the enum
        times: dict[int | None, datetime | None] = {None: None}  # the same few instants recur in every set

        def when(value: int | None) -> datetime | None:
            found = times.get(value, _EPOCH)
            if found is _EPOCH:
                found = times[value] = from_micros(value)
            return found

        for key, labels, values, labeled, start, created, scraped in sets:
            batch.metric_sets[key] = MetricSet(
                labels=labels,
                values={name: MetricValue(v, kinds[t]) for name, (v, t) in values.items()},
                labeled=[LabeledMetric(name, lbl, v, kinds[t]) for name, lbl, v, t in labeled],
                collection_start=when(start), create_time=when(created), scrape_time=when(scraped))
        return batch


class EventBatchCodec:
    """An :class:`EventBatch` as ``[made at, [event, ...]]``, each event the API server's JSON."""

    def encode(self, item: EventBatch) -> bytes:
        return pack([micros(item.timestamp), item.events])

    def decode(self, data: bytes) -> EventBatch:
        stamp, events = unpack(data)
        return EventBatch(from_micros(stamp) or _EPOCH, events)


DATA_BATCH_CODEC = DataBatchCodec()
EVENT_BATCH_CODEC = EventBatchCodec()
