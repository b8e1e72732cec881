"""QuantileSummary: Heapster's quantile lines over a sliding window, parsed back by prometheus-client."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from heapster import promsummary
from heapster.promregistry import Registry
from heapster.promsummary import MAX_AGE_SECONDS, MAX_WINDOW, QuantileSummary, nearest_rank


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(promsummary, "clock", fake)
    return fake


def samples(registry: Registry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse the real text exposition back, as Prometheus would."""
    text = registry.exposition().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_nearest_rank() -> None:
    assert math.isnan(nearest_rank([], 0.5))
    assert nearest_rank([1.0], 0.99) == 1.0
    ordered = [float(v) for v in range(1, 101)]
    assert (nearest_rank(ordered, 0.5), nearest_rank(ordered, 0.9), nearest_rank(ordered, 0.99)) == (50, 90, 99)


def test_quantiles_sum_and_count_per_label_set(clock: Clock) -> None:
    registry = Registry()
    summary = QuantileSummary("x_duration_milliseconds", "help", ["source"], registry=registry)
    for value in range(1, 101):
        summary.labels(source="kubelet_summary:10.0.0.1:10250").observe(float(value))
    found = samples(registry)
    src = ("source", "kubelet_summary:10.0.0.1:10250")
    assert found[("x_duration_milliseconds", (("quantile", "0.5"), src))] == 50
    assert found[("x_duration_milliseconds", (("quantile", "0.9"), src))] == 90
    assert found[("x_duration_milliseconds", (("quantile", "0.99"), src))] == 99
    assert found[("x_duration_milliseconds_sum", (src,))] == 5050
    assert found[("x_duration_milliseconds_count", (src,))] == 100
    assert not any(name.endswith("_created") for name, _ in found)


def test_old_observations_leave_the_quantiles_but_not_the_count(clock: Clock) -> None:
    registry = Registry()
    summary = QuantileSummary("y_ms", "help", registry=registry)
    summary.observe(500.0)
    clock.now += MAX_AGE_SECONDS / 2
    summary.observe(10.0)
    assert samples(registry)[("y_ms", (("quantile", "0.99"),))] == 500
    clock.now += MAX_AGE_SECONDS / 2 + 1
    found = samples(registry)
    assert found[("y_ms", (("quantile", "0.99"),))] == 10
    assert found[("y_ms_count", ())] == 2
    clock.now += MAX_AGE_SECONDS
    assert math.isnan(samples(registry)[("y_ms", (("quantile", "0.5"),))])


def test_the_window_is_bounded(clock: Clock) -> None:
    registry = Registry()
    summary = QuantileSummary("z_bytes", "help", registry=registry)
    for value in range(MAX_WINDOW * 3):
        summary.observe(float(value))
    found = samples(registry)
    assert found[("z_bytes", (("quantile", "0.5"),))] >= MAX_WINDOW * 2   # only the newest count
    assert found[("z_bytes_count", ())] == MAX_WINDOW * 3
