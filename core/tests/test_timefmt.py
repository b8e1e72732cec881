"""The one conversion between datetimes and integer micro/nanoseconds, and RFC 3339 parsing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from heapster.columns import MISSING, from_ns, to_ns
from heapster.testing.fixtures import FIXTURES
from heapster.timefmt import (
    GO_ZERO_UNIX_NANO,
    epoch_micros,
    epoch_nanos,
    from_epoch_micros,
    from_epoch_nanos,
    parse_go_rfc3339,
    parse_rfc3339,
    unix_nano,
)


@pytest.mark.parametrize("ts", [
    datetime(2026, 12, 1, 20, 24, 19, 999_999, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),  # before the epoch: no truncation toward zero
    datetime(2262, 4, 11, 23, 47, 16, 854_775, tzinfo=UTC),  # the int64 nanosecond limit
])
def test_conversions_are_exact_and_invert(ts: datetime) -> None:
    micros = epoch_micros(ts)
    assert micros == (ts - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)  # exact integer division
    assert epoch_nanos(ts) == micros * 1000 == to_ns(ts) == unix_nano(ts)
    assert from_epoch_micros(micros) == ts == from_epoch_nanos(epoch_nanos(ts) + 999) == from_ns(to_ns(ts))


def test_offsets_and_naive_times() -> None:
    plus_two = datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    assert epoch_nanos(plus_two) == epoch_nanos(datetime(2026, 1, 1, tzinfo=UTC))
    assert epoch_nanos(datetime(2026, 1, 1)) == epoch_nanos(datetime(2026, 1, 1, tzinfo=UTC))  # naive is UTC


def test_unknown_times() -> None:
    assert to_ns(None) == MISSING and from_ns(MISSING) is None
    assert unix_nano(None) == GO_ZERO_UNIX_NANO


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-01T20:24:19Z", datetime(2026, 12, 1, 20, 24, 19, tzinfo=UTC)),
    ("2026-12-01T20:24:19.123456789Z", datetime(2026, 12, 1, 20, 24, 19, 123456, tzinfo=UTC)),
    ("2026-12-01T20:24:19.5z", datetime(2026, 12, 1, 20, 24, 19, 500000, tzinfo=UTC)),
    ("2026-12-01T22:24:19+02:00", datetime(2026, 12, 1, 20, 24, 19, tzinfo=UTC)),
    ("2026-12-01T20:24:19", datetime(2026, 12, 1, 20, 24, 19, tzinfo=UTC)),  # no offset: UTC
])
def test_parse_rfc3339(text: str, expected: datetime) -> None:
    assert parse_rfc3339(text) == expected


def test_parse_rfc3339_rejects_what_is_no_time() -> None:
    with pytest.raises(ValueError):
        parse_rfc3339("yesterday")


@pytest.mark.parametrize(("text", "expected", "nanos"), [
    ("2026-03-01T10:00:00Z", datetime(2026, 3, 1, 10, tzinfo=UTC), 0),
    ("2026-03-01T10:00:00.123456789Z", datetime(2026, 3, 1, 10, 0, 0, 123_456, tzinfo=UTC), 789),
    ("2026-03-01T10:00:00.1234567891234Z", datetime(2026, 3, 1, 10, 0, 0, 123_456, tzinfo=UTC), 789),
    ("2026-03-01T10:00:00.5+01:00", datetime(2026, 3, 1, 9, 0, 0, 500_000, tzinfo=UTC), 0),
    ("2026-03-01T9:00:00Z", datetime(2026, 3, 1, 9, tzinfo=UTC), 0),  # and a one-digit hour ("15" is not "03")
    ("2026-03-01T10:00:00-00:00", datetime(2026, 3, 1, 10, tzinfo=UTC), 0),
])
def test_parse_go_rfc3339_takes_what_go_takes(text: str, expected: datetime, nanos: int) -> None:
    assert parse_go_rfc3339(text) == (expected, nanos)


@pytest.mark.parametrize("text", [
    "2026-03-01t10:00:00Z", "2026-03-01T10:00:00z", "2026-03-01t10:00:00z",  # Go's layout is case-sensitive
    "2026-03-01 10:00:00Z", "2026-03-01", "2026-03-01T10:00Z", "2026-03-01T10:00:00", "2026-03-01T10:00:00.Z",
    "2026-03-01T10:00:00+0100", "2026-03-01T10:00:00Z\n", "2026-03-01T24:00:00Z", "2026-02-30T10:00:00Z",
    "2026-03-01T10:00:60Z", "\u0662026-03-01T10:00:00Z", "20260301T100000Z",
    "2026-03-01T10:00:00,5Z",  # Go 1.8 (Heapster's build) reads only a period; a comma came with Go 1.17
])
def test_parse_go_rfc3339_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"^parsing time "):
        parse_go_rfc3339(text)


@pytest.mark.parametrize(("text", "message"), [  # Go 1.8's time.ParseError for time.RFC3339, to the character
    ("yesterday", 'as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"'),
    ("2026-03-01", 'as "2006-01-02T15:04:05Z07:00": cannot parse "" as "T"'),
    ("2026-03-01t10:00:00Z", 'as "2006-01-02T15:04:05Z07:00": cannot parse "t10:00:00Z" as "T"'),
    ("2026-03-01T10:00:00z", 'as "2006-01-02T15:04:05Z07:00": cannot parse "z" as "Z07:00"'),
    ("2026-03-01T10:00:00", 'as "2006-01-02T15:04:05Z07:00": cannot parse "" as "Z07:00"'),
    ("2026-03-01T10:00:00+0a:00", 'as "2006-01-02T15:04:05Z07:00": cannot parse "" as "Z07:00"'),
    ("20a6-03-01T10:00:00Z", 'as "2006-01-02T15:04:05Z07:00": cannot parse "-03-01T10:00:00Z" as "2006"'),
    ("2026-3-01T10:00:00Z", ": month out of range"),  # a failed month reads as 0 and is checked first
    ("2026-13-01T10:00:00Z", ": month out of range"), ("2026-03-01T24:00:00Z", ": hour out of range"),
    ("2026-03-01T10:00:60Z", ": second out of range"), ("2026-02-29T10:00:00Z", ": day out of range"),
    ("2026-03-01T10:00:00Zjunk", ": extra text: junk"),
])
def test_parse_go_rfc3339_fails_with_gos_words(text: str, message: str) -> None:
    with pytest.raises(ValueError) as failed:
        parse_go_rfc3339(text)
    assert str(failed.value) == f'parsing time "{text}" {message}'.replace('" :', '":')


def test_parse_go_rfc3339_takes_offsets_and_years_python_cannot_hold() -> None:
    assert parse_go_rfc3339("2026-03-01T10:00:00+99:00")[0] == datetime(2026, 2, 25, 7, tzinfo=UTC)
    assert parse_go_rfc3339("2024-02-29T10:00:00-00:30")[0] == datetime(2024, 2, 29, 10, 30, tzinfo=UTC)
    assert parse_go_rfc3339("0000-01-01T00:00:00Z")[0] == datetime.min.replace(tzinfo=UTC)  # Go's year 0


def test_payload_timestamps_are_all_taken() -> None:
    """Every timestamp in the real kubelet and API server payloads (tests/fixtures, copies of ../shared/fixtures)
    parses as in Go, to the same time as the payload parser reads it."""
    stamp = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[^\"' \n]*")
    stamps = {m for f in FIXTURES.glob("*.[jy]*") for m in stamp.findall(f.read_text())}
    assert len(stamps) > 100
    for stamp in stamps:
        assert parse_go_rfc3339(stamp)[0] == parse_rfc3339(stamp), stamp
