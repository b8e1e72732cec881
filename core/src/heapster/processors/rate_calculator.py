"""Rate calculator (HEAPSTER.md §5.1): cumulative counters -> per-second rates and ``cpu/usage_rate``."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import structlog

from heapster.catalogue import RATE_MAPPING
from heapster.interfaces import Processor
from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricType, MetricValue

log = structlog.get_logger(__name__)

CPU_USAGE = "cpu/usage"
CPU_USAGE_RATE = "cpu/usage_rate"
LABELED_RATES = {name: RATE_MAPPING[name] for name in ("disk/io_read_bytes", "disk/io_write_bytes")}
VALUE_RATES = {name: rate for name, rate in RATE_MAPPING.items() if name not in LABELED_RATES}
RESOURCE_ID = "resource_id"

_GAUGE = MetricType.GAUGE


def _ns(ts: datetime) -> int:
    return (int(ts.timestamp()) * 1_000_000 + ts.microsecond) * 1000


# The previous sample of one metric set, as a plain tuple of atoms (cheap for the garbage collector):
# (batch ns, scrape ns, collection start, {counter: value}, {(metric, resource_id): value} or None).
_Sample = tuple[int, int, datetime | None, dict[str, int | float], dict[tuple[str, str], int | float] | None]
_BATCH: Final = 0
_SCRAPE: Final = 1
_START: Final = 2
_COUNTERS: Final = 3
_LABELED: Final = 4


def _sample(ms: MetricSet, batch_ns: int, scrape_ns: int) -> _Sample:
    values = ms.values
    counters = {name: values[name].value for name in VALUE_RATES if name in values}
    labeled: dict[tuple[str, str], int | float] | None = None
    if ms.labeled:
        for metric in ms.labeled:
            if metric.name in LABELED_RATES:
                if labeled is None:
                    labeled = {}
                labeled[(metric.name, metric.labels.get(RESOURCE_ID, ""))] = metric.value
    return (batch_ns, scrape_ns, ms.collection_start, counters, labeled)


class RateCalculator(Processor):
    """Derives rates from the previous sample of each metric set.

    Unlike Heapster, state is kept per metric set rather than as one previous batch, so batches
    that arrive out of order or overlap never corrupt it: a sample only replaces an older one.
    A counter that went backwards or a changed collection start time (a restart) yields no rate,
    never a negative one. Samples not refreshed for ``max_gap`` seconds are forgotten.
    """

    name = "rate calculator"

    def __init__(self, max_gap: float = 600.0) -> None:
        self.max_gap_ns = int(max_gap * 1e9)
        self._previous: dict[str, _Sample] = {}
        self._newest_batch_ns = 0

    async def process(self, batch: DataBatch) -> DataBatch:
        self.apply(batch)
        return batch

    def apply(self, batch: DataBatch) -> None:
        """Add the rates to ``batch`` in place and remember its counters."""
        batch_ns = _ns(batch.timestamp)
        previous = self._previous
        resets = 0
        for key, ms in batch.metric_sets.items():
            if ms.scrape_time is None:
                continue
            scrape_ns = _ns(ms.scrape_time)
            old = previous.get(key)
            if old is not None and scrape_ns <= old[_SCRAPE]:
                continue  # an older or repeated sample: neither a rate nor newer state
            new = _sample(ms, batch_ns, scrape_ns)
            previous[key] = new
            if old is None or old[_START] != new[_START]:
                continue
            resets += self._add_rates(ms, old, new)
        if resets:
            log.debug("rates.counter_reset", sets=resets)
        if batch_ns > self._newest_batch_ns:
            self._newest_batch_ns = batch_ns
            self._forget_before(batch_ns - self.max_gap_ns)

    def _add_rates(self, ms: MetricSet, old: _Sample, new: _Sample) -> int:
        """Add this set's rates; return 1 if some counter went backwards."""
        elapsed = new[_SCRAPE] - old[_SCRAPE]
        backwards = 0
        values = ms.values
        old_counters = old[_COUNTERS]
        for name, current in new[_COUNTERS].items():
            before = old_counters.get(name)
            if before is None:
                continue
            delta = current - before
            if delta < 0:
                backwards = 1
                continue
            if name == CPU_USAGE:
                values[CPU_USAGE_RATE] = MetricValue(int(1000 * delta // elapsed), _GAUGE)
            else:
                values[VALUE_RATES[name]] = MetricValue(1e9 * delta / elapsed, _GAUGE)
        old_labeled = old[_LABELED]
        if new[_LABELED] and old_labeled:
            for metric in list(ms.labeled):
                rate_name = LABELED_RATES.get(metric.name)
                if rate_name is None:
                    continue
                before = old_labeled.get((metric.name, metric.labels.get(RESOURCE_ID, "")))
                if before is None:
                    continue
                delta = metric.value - before
                if delta < 0:
                    backwards = 1
                    continue
                ms.labeled.append(LabeledMetric(rate_name, metric.labels, 1e9 * delta / elapsed, _GAUGE))
        return backwards

    def _forget_before(self, cutoff_ns: int) -> None:
        stale = [key for key, sample in self._previous.items() if sample[_BATCH] < cutoff_ns]
        for key in stale:
            del self._previous[key]
