"""A Summary that also exposes quantiles, as Heapster's Go summaries did.

:class:`heapster.promregistry.Summary` (as prometheus-client's) exposes only ``_count`` and ``_sum``.
Heapster's summaries (client_golang defaults) also expose ``{quantile="0.5"}``, ``"0.9"`` and ``"0.99"``
over a sliding 10-minute window, and dashboards and alerts written for Heapster query them.
:class:`QuantileSummary` adds those lines and keeps everything else (registry, labels, exposition) to
:mod:`heapster.promregistry`.

The quantiles are exact nearest-rank values over the newest :data:`MAX_WINDOW` observations of the last
:data:`MAX_AGE_SECONDS` (client_golang estimates them with error bounds of 5 %, 1 % and 0.1 %); with no
observation in the window they are ``NaN``, as in Go.
"""

from __future__ import annotations

import math
import time
from array import array

from heapster.promregistry import Sample, Summary

QUANTILES = (0.5, 0.9, 0.99)
"""client_golang's default objectives, which every Heapster summary used."""
MAX_AGE_SECONDS = 600.0
"""client_golang's default ``MaxAge``: observations older than this leave the quantiles."""
MAX_WINDOW = 512
"""Newest observations kept per series, which bounds memory under heavy HTTP traffic."""
clock = time.monotonic
"""Seconds of the window's clock (replaceable in tests)."""


def nearest_rank(ordered: list[float], quantile: float) -> float:
    """The ``quantile`` of ascending ``ordered`` by the nearest-rank method; NaN when empty."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(quantile * len(ordered)))
    return ordered[rank - 1]


class QuantileSummary(Summary):
    """A ``Summary`` whose exposition has Heapster's quantile lines before ``_sum`` and ``_count``."""

    __slots__ = ("_window",)

    def _init_values(self) -> None:
        super()._init_values()
        # (time, value) pairs, oldest first, flat: 16 bytes an observation (a deque of tuples costs
        # ~700 bytes a series before the first one, which matters with a series per node).
        self._window = array("d")

    def observe(self, amount: float) -> None:
        """Count and sum ``amount`` (as Summary does) and keep it for the quantiles."""
        self._check_series()
        with self._lock:
            self._count += 1.0
            self._sum += amount
            self._window.extend((clock(), amount))
            if len(self._window) > 2 * MAX_WINDOW:
                del self._window[:2]

    def _series_samples(self, labels: dict[str, str]) -> list[Sample]:
        cutoff = clock() - MAX_AGE_SECONDS
        with self._lock:
            window = self._window
            old = 0
            while old < len(window) and window[old] < cutoff:
                old += 2
            del window[:old]
            ordered = sorted(window[1::2])
            total, count = self._sum, self._count
        quantiles = [Sample(self.name, {**labels, "quantile": str(q)}, nearest_rank(ordered, q)) for q in QUANTILES]
        return [*quantiles, Sample(self.name + "_sum", labels, total), Sample(self.name + "_count", labels, count)]
