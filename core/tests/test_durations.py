"""Go durations and ParseBool."""

from __future__ import annotations

import pytest

from heapster.durations import format_duration, parse_bool, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("60s", 60.0), ("1m", 60.0), ("1m30s", 90.0), ("500ms", 0.5), ("1h", 3600.0), ("0", 0.0),
    ("1.5s", 1.5), ("2h45m", 9900.0), ("100us", 0.0001),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "60", "s", "1x", "1m 2s", "abc"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_format_duration_like_go() -> None:
    assert format_duration(60) == "1m0s"
    assert format_duration(30) == "30s"
    assert format_duration(3600) == "1h0m0s"


def test_parse_bool_rejects_yes() -> None:
    with pytest.raises(ValueError, match="invalid boolean"):
        parse_bool("yes")
