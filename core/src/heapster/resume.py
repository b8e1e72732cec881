"""Resuming a partially sent batch: which parts of it the store already accepted.

A sink writes a large batch in parts (requests, chunks, messages). When one part fails for a reason
worth retrying, the sink raises :class:`~heapster.errors.RetryableError` and the
:class:`~heapster.sinkqueue.SinkQueue` hands it the same batch again after a backoff. With a
:class:`SentParts` the sink then sends only the parts the store has not accepted yet::

    self._sent = SentParts()
    ...
    async def export(self, batch):
        for index, chunk in self._sent.pending(batch, chunked(points, 1000)):
            await self._post(chunk)          # RetryableError: this chunk and the rest stay pending

Parts are numbered in the order the sink builds them, so building them the same way on every
attempt is the sink's part of the contract.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

T = TypeVar("T")


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most ``size`` items (the last one shorter)."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class SentParts:
    """The numbers of the parts of the batch in progress that are done (accepted, or refused for good).

    ``same(new, current)`` tells whether a batch handed to the sink is the one in progress: the same
    object by default (the sink queue retries with the object it holds); a sink fed decoded copies
    (a queue on disk) can compare a key instead, such as the batch's timestamp.
    """

    def __init__(self, same: Callable[[Any, Any], bool] = operator.is_) -> None:
        self._same = same
        self._batch: object | None = None
        self._done: set[int] = set()

    def continues(self, batch: object) -> bool:
        """Whether ``batch`` is the batch in progress (a retry), as opposed to a new one."""
        return self._batch is not None and self._same(batch, self._batch)

    def begin(self, batch: object) -> set[int]:
        """Start or go on with ``batch``; the set of its done parts, for the sink to add to."""
        if not self.continues(batch):
            self._batch, self._done = batch, set()
        return self._done

    def finish(self) -> None:
        """The batch is handled completely: forget it (the next call starts afresh)."""
        self._batch, self._done = None, set()

    def pending(self, batch: object, parts: Iterable[T]) -> Iterator[tuple[int, T]]:
        """``(number, part)`` of each part of ``batch`` not done yet, for a loop that sends them in turn.

        A part counts as done once the loop body has run for it without raising (the loop asks for
        the next part); a body that raises leaves that part and the rest pending. When the last
        part is done the batch is finished.
        """
        done = self.begin(batch)
        for index, part in enumerate(parts):
            if index in done:
                continue
            yield index, part
            done.add(index)
        self.finish()
