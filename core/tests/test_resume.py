"""SentParts: a retried batch sends only the parts not yet accepted; a new batch starts afresh."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from heapster.errors import RetryableError
from heapster.model import DataBatch
from heapster.resume import SentParts, chunked


class FlakyStore:
    """Accepts parts, but refuses the parts named in ``failing`` once each."""

    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.accepted: list[str] = []
        self.attempts: list[str] = []

    def send(self, part: str) -> None:
        self.attempts.append(part)
        if part in self.failing:
            self.failing.discard(part)
            raise RetryableError(f"{part} not taken")
        self.accepted.append(part)


def export(sent: SentParts, store: FlakyStore, batch: object, parts: list[str]) -> None:
    for _, part in sent.pending(batch, parts):
        store.send(part)


def test_a_retry_of_the_same_batch_sends_only_what_was_not_accepted() -> None:
    sent, store, batch = SentParts(), FlakyStore({"c"}), object()
    with pytest.raises(RetryableError):
        export(sent, store, batch, ["a", "b", "c", "d"])
    assert sent.continues(batch)
    export(sent, store, batch, ["a", "b", "c", "d"])
    assert store.attempts == ["a", "b", "c", "c", "d"]
    assert store.accepted == ["a", "b", "c", "d"]
    assert not sent.continues(batch), "a finished batch is forgotten"


def test_another_batch_after_a_failure_is_sent_whole() -> None:
    sent, store = SentParts(), FlakyStore({"b"})
    with pytest.raises(RetryableError):
        export(sent, store, object(), ["a", "b"])
    export(sent, store, object(), ["a", "b"])
    assert store.attempts == ["a", "b", "a", "b"]


def test_a_batch_can_be_recognised_by_a_key() -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    sent = SentParts(same=lambda new, current: new.timestamp == current.timestamp)
    done = sent.begin(DataBatch(when))
    done.add(0)
    assert sent.continues(DataBatch(when)), "a decoded copy of the same window goes on"
    assert sent.begin(DataBatch(when)) == {0}
    assert sent.begin(DataBatch(datetime(2024, 1, 2, tzinfo=UTC))) == set()


def test_begin_hands_out_the_set_that_concurrent_senders_fill() -> None:
    sent, batch = SentParts(), object()
    sent.begin(batch).update({0, 2})
    assert [i for i, _ in sent.pending(batch, "abcd")] == [1, 3]


def test_chunked_splits_in_order() -> None:
    assert list(chunked(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunked([], 3)) == []
