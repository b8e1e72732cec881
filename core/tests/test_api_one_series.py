"""The one-series answer written directly: the same bytes as the general JSON of a MetricResult."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from heapster.api.model import metric_result, metric_result_json
from heapster.api.responses import go_json
from heapster.store import Point


def points(values: list[float], start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> list[Point]:
    return [Point(start + timedelta(seconds=10 * i), value) for i, value in enumerate(values)]


@pytest.mark.parametrize("values", [
    [], [0], [1, -2, 3], [0.5, 1e-7, 1e300, -0.0, 123456789.125], [2**63 - 1, -(2**63)],
    [float("nan"), 1.5], [7, 7.0],
])
def test_the_same_bytes_as_the_general_json(values: list[float]) -> None:
    found = points(values)
    assert metric_result_json(found) == go_json(metric_result(found))


def test_timestamps_with_microseconds_out_of_order() -> None:
    draw = random.Random(3)
    found = [Point(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=draw.randrange(10**12)),
                   draw.choice([draw.random() * 1e6, draw.randrange(-10**12, 10**12)])) for _ in range(300)]
    assert metric_result_json(found) == go_json(metric_result(found))
