"""Label selectors as the API server parses and matches them (apimachinery's labels.Parse)."""

from __future__ import annotations

import pytest

from heapster.selectors import parse_selector

LABELS = {"app.kubernetes.io/name": "web", "tier": "front", "generation": "7", "replicas": "007", "size": "1.5"}


@pytest.mark.parametrize(("selector", "expected"), [
    ("app.kubernetes.io/name in (web, api)", True),
    ("app.kubernetes.io/name notin (web)", False),
    ("!missing,tier", True),
    ("tier=front,tier!=back", True),
    ("generation>6", True),
    ("generation>7", False),
    ("generation<8", True),
    ("generation < 10, tier == front", True),
    ("replicas>6", True),             # strconv.ParseInt("007") is 7
    ("size>1", False),                # not an integer: no match
    ("missing<100", False),           # no such label: no match
])
def test_matches(selector: str, expected: bool) -> None:
    assert parse_selector(selector).matches(LABELS) is expected


@pytest.mark.parametrize(("selector", "error"), [
    ("generation>x", "must be an integer"),
    ("generation>", "must be an integer"),
    ("generation>-1", "invalid label value '-1'"),
    ("generation>99999999999999999999", "must be an integer"),
    ("a in (b),", "empty requirement"),
    ("a b", "invalid label key"),
])
def test_malformed(selector: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_selector(selector)
