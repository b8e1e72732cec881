"""One batch rendered in the Prometheus text format (0.0.4) and in OpenMetrics 1.0.

Hand-written rather than through ``prometheus_client``: building a family object per metric and
formatting sample by sample took ~4x longer at 1000 nodes (see ``bench/prometheus_bench.py``).
Each metric set's label string is made once and shared by all its values; a family's samples are
then joined in one ``str.join`` with the batch timestamp as separator.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from heapster.model import DataBatch, MetricType
from heapster_sink_prometheus.names import (
    DEFAULT_PREFIX,
    Family,
    escape_label_value,
    family,
    format_value,
    label_name,
)

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@dataclass(slots=True)
class Samples:
    """A batch grouped by family: each entry is ``{labels} value`` without the sample name."""

    timestamp: datetime
    families: dict[Family, list[str]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Number of samples."""
        return sum(len(pieces) for pieces in self.families.values())


def _label_text(labels: dict[str, str]) -> str:
    """``k="v",...`` for the non-empty labels (no braces)."""
    return ",".join([f'{label_name(k)}="{escape_label_value(v)}"' for k, v in labels.items() if v])


def encode_batch(batch: DataBatch, prefix: str = DEFAULT_PREFIX) -> Samples:
    """Group every value of the batch by Prometheus family (the one pass over the batch).

    The per-value path allocates nothing but the sample string: no key tuple, so that no garbage
    collection walks the batch's millions of objects while it runs.
    """
    samples = Samples(batch.timestamp)
    families = samples.families
    by_name: dict[str, tuple[MetricType, list[str]]] = {}

    def pieces_of(name: str, metric_type: MetricType) -> list[str]:
        entry = by_name.get(name)
        if entry is not None and entry[0] is metric_type:
            return entry[1]
        pieces = families.setdefault(family(name, metric_type, prefix), [])
        by_name[name] = (metric_type, pieces)
        return pieces

    for metric_set in batch.metric_sets.values():
        set_labels = metric_set.labels
        inner = _label_text(set_labels)
        labels = "{" + inner + "} "
        for name, value in metric_set.values.items():
            number = value.value
            pieces_of(name, value.metric_type).append(
                labels + (str(number) if type(number) is int else format_value(number)))
        for metric in metric_set.labeled:
            if any(k in set_labels for k in metric.labels):  # the metric's own label wins
                text = _label_text({**set_labels, **metric.labels})
            else:
                extra = _label_text(metric.labels)
                text = f"{inner},{extra}" if inner and extra else inner or extra
            pieces_of(metric.name, metric.metric_type).append("{" + text + "} " + format_value(metric.value))
    return samples


def _escape_help(text: str, openmetrics: bool) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if openmetrics else text


CHUNK_SAMPLES = 10_000
"""Samples per chunk of :func:`render_chunks` (bounds the memory of streaming into gzip)."""


def render_chunks(samples: Samples, *, openmetrics: bool, timestamps: bool = True) -> Iterator[str]:
    """The exposition of ``samples`` in pieces of at most :data:`CHUNK_SAMPLES` samples: the text
    format, or OpenMetrics (ending in ``# EOF``)."""
    millis = int(samples.timestamp.timestamp() * 1000)
    if not timestamps:
        stamp = ""
    elif openmetrics:
        stamp = f" {millis // 1000}.{millis % 1000:03d}"
    else:
        stamp = f" {millis}"
    for fam in sorted(samples.families, key=lambda f: f.name):
        pieces = samples.families[fam]
        help_text = _escape_help(fam.help, openmetrics)
        if openmetrics:
            unit = f"# UNIT {fam.name} {fam.unit}\n" if fam.unit else ""
            header = f"# TYPE {fam.name} {fam.kind}\n{unit}# HELP {fam.name} {help_text}\n"
        else:
            header = f"# HELP {fam.sample} {help_text}\n# TYPE {fam.sample} {fam.kind}\n"
        separator = f"{stamp}\n{fam.sample}"
        for start in range(0, len(pieces), CHUNK_SAMPLES):
            body = separator.join(pieces[start:start + CHUNK_SAMPLES])
            yield f"{header if start == 0 else ''}{fam.sample}{body}{stamp}\n"
    if openmetrics:
        yield "# EOF\n"


def render(samples: Samples, *, openmetrics: bool, timestamps: bool = True) -> bytes:
    """The whole exposition as bytes (see :func:`render_chunks`)."""
    return "".join(render_chunks(samples, openmetrics=openmetrics, timestamps=timestamps)).encode()


def render_gzip(samples: Samples, *, openmetrics: bool, timestamps: bool = True, level: int = 1) -> bytes:
    """The exposition gzip-compressed chunk by chunk, never holding the uncompressed body whole."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # wbits 31: gzip framing
    parts = [compressor.compress(chunk.encode())
             for chunk in render_chunks(samples, openmetrics=openmetrics, timestamps=timestamps)]
    parts.append(compressor.flush())
    return b"".join(parts)
