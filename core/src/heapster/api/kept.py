"""List answers kept while what they show is unchanged, with the time of each request written in.

A metrics.k8s.io pod list is the same from one request to the next until a batch is stored or a pod changes, but
for its items' ``creationTimestamp``: the time of the request, as metrics-server writes it. kubectl, the HPA and
dashboards poll the same lists; made afresh, a namespace of 6,000 pods cost each request about 50 ms of the API
thread's CPU (its dicts, then their JSON), in one piece, with the store's lock held. Kept, a request costs a copy
of the bytes with its time written over the stand-in (:data:`REQUEST_TIME`) at each item.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import orjson

REQUEST_TIME = "\x00\x00\x00@@"
"""Stands for the request's time in a kept answer: JSON-encoded as long as an RFC 3339 time in whole seconds
(20 bytes), and found in no Kubernetes name or label (they hold no NUL; an answer holding it more often than it
has items is not kept)."""
_REQUEST_TIME_JSON = orjson.dumps(REQUEST_TIME)[1:-1]
ANSWERS_KEPT = 8
"""Answers kept per state (by route and parameters); past that many the kept ones are dropped."""
BYTES_KEPT = 16 * 2**20
"""Bytes of answers kept at most (an answer of all 30,000 pods of 1000 nodes is about 10 MiB)."""


class KeptAnswer:
    """An answer's bytes made with :data:`REQUEST_TIME` for the request's time, and where it stands."""

    __slots__ = ("at", "body")

    def __init__(self, body: bytes, at: np.ndarray) -> None:
        self.body = body
        self.at = at

    def render(self, now: str) -> bytes | None:
        """The answer at time ``now`` (None if ``now`` is not as long as the stand-in: the caller makes it)."""
        stamp = now.encode()
        if len(stamp) != len(_REQUEST_TIME_JSON):
            return None
        if not self.at.size:
            return self.body
        out = np.frombuffer(self.body, dtype=np.uint8).copy()
        where = (self.at[:, None] + np.arange(len(stamp))).ravel()
        out[where] = np.tile(np.frombuffer(stamp, dtype=np.uint8), self.at.size)
        return out.tobytes()


class KeptAnswers:
    """Answers (:class:`KeptAnswer`) of one state, by what was asked; a new state drops them all.

    The state is whatever the answers show, e.g. the store's version and the pod cache's count of changes. Used
    from one thread (the API's)."""

    def __init__(self) -> None:
        self._state: Hashable = None
        self._answers: dict[Hashable, KeptAnswer] = {}
        self._bytes = 0

    def get(self, state: Hashable, asked: Hashable) -> KeptAnswer | None:
        """The answer kept for ``asked`` in ``state``, if any."""
        if state != self._state:
            self._state, self._answers, self._bytes = state, {}, 0
            return None
        return self._answers.get(asked)

    def keep(self, state: Hashable, asked: Hashable, body: bytes, items: int) -> KeptAnswer | None:
        """Keep ``body`` (made with :data:`REQUEST_TIME` in each of its ``items`` items) for ``asked`` in ``state``;
        None when it cannot stand for the answer (the stand-in found elsewhere in it)."""
        at: list[int] = []
        found = body.find(_REQUEST_TIME_JSON)
        while found >= 0:
            at.append(found)
            found = body.find(_REQUEST_TIME_JSON, found + len(_REQUEST_TIME_JSON))
        if len(at) != items:
            return None
        answer = KeptAnswer(body, np.array(at, dtype=np.int64))
        if state != self._state:
            self._state, self._answers, self._bytes = state, {}, 0
        old = self._answers.pop(asked, None)
        if old is not None:
            self._bytes -= len(old.body)
        if len(body) <= BYTES_KEPT:
            if len(self._answers) >= ANSWERS_KEPT or self._bytes + len(body) > BYTES_KEPT:
                self._answers, self._bytes = {}, 0
            self._answers[asked] = answer
            self._bytes += len(body)
        return answer
