"""A prometheus-client Summary that also exposes quantiles, as Heapster's Go summaries did.

prometheus-client's ``Summary`` exposes only ``_count`` and ``_sum``. Heapster's summaries (client_golang
defaults) also expose ``{quantile="0.5"}``, ``"0.9"`` and ``"0.99"`` over a sliding 10-minute window, and
dashboards and alerts written for Heapster query them. :class:`QuantileSummary` adds those lines and keeps
everything else (registry, labels, exposition) to prometheus-client.

The quantiles are exact nearest-rank values over the newest :data:`MAX_WINDOW` observations of the last
:data:`MAX_AGE_SECONDS` (client_golang estimates them with error bounds of 5 %, 1 % and 0.1 %); with no
observation in the window they are ``NaN``, as in Go.
"""

from __future__ import annotations

import math
import threading
import time
from array import array
from collections.abc import Iterable

from prometheus_client import Summary
from prometheus_client.samples import Sample

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

    def _metric_init(self) -> None:
        super()._metric_init()
        # (time, value) pairs, oldest first, flat: 16 bytes an observation (a deque of tuples costs
        # ~700 bytes a series before the first one, which matters with a series per node).
        self._window = array("d")
        self._window_lock = threading.Lock()

    def observe(self, amount: float) -> None:
        """Count and sum ``amount`` (as Summary does) and keep it for the quantiles."""
        super().observe(amount)
        with self._window_lock:
            self._window.extend((clock(), amount))
            if len(self._window) > 2 * MAX_WINDOW:
                del self._window[:2]

    def _child_samples(self) -> Iterable[Sample]:
        cutoff = clock() - MAX_AGE_SECONDS
        with self._window_lock:
            window = self._window
            old = 0
            while old < len(window) and window[old] < cutoff:
                old += 2
            del window[:old]
            ordered = sorted(window[1::2])
        quantiles = [Sample("", {"quantile": str(q)}, nearest_rank(ordered, q)) for q in QUANTILES]
        base = {sample.name: sample for sample in super()._child_samples()}
        rest = [base.pop("_sum"), base.pop("_count"), *base.values()]
        return (*quantiles, *rest)
