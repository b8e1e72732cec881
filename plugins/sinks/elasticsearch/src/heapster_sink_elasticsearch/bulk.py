"""Bulk writing through the client's helpers: chunked by actions and bytes, N concurrent workers.

Every item's result is classified: written (or, for ``create``, already there), rejected for
good (mapping and other 4xx errors), or still pending (429, 5xx, auth, or the server gone).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from elastic_transport import TransportError
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_streaming_bulk

CHUNK_ACTIONS = 1000
"""Heapster's bulk processor committed at 1000 actions ..."""
CHUNK_BYTES = 2 << 20
"""... or 2 MiB."""
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
"""Item (or whole request) statuses retried with backoff inside one export."""
PENDING_STATUSES = frozenset((*RETRY_STATUSES, 401, 403))
"""Statuses that keep an item for a later export instead of dropping it."""

Action = dict[str, Any]
"""A helper action: ``_op_type``, ``_index``, ``_id``, ``_source``."""


@dataclass
class BulkOutcome:
    """What happened to the actions of one :meth:`BulkWriter.write`."""

    written: int = 0
    rejected: list[tuple[Action, dict[str, Any]]] = field(default_factory=list)
    pending: list[Action] = field(default_factory=list)
    failure: str = ""

    @property
    def complete(self) -> bool:
        """Every action was written or rejected for good."""
        return not self.pending


@dataclass
class _Progress:
    done: set[str] = field(default_factory=set)
    rejected: dict[str, dict[str, Any]] = field(default_factory=dict)
    failure: str = ""


class BulkWriter:
    """Sends actions with ``async_streaming_bulk`` from ``workers`` concurrent workers.

    The actions are cut into groups of ``chunk_actions``; the workers take groups from one
    shared iterator, so up to ``workers`` bulk requests are in flight at once.
    Items answered 408/429/5xx are retried ``retries`` times with exponential backoff.
    """

    def __init__(self, client: AsyncElasticsearch, *, workers: int = 5, pipeline: str = "",
                 chunk_actions: int = CHUNK_ACTIONS, chunk_bytes: int = CHUNK_BYTES, retries: int = 3,
                 initial_backoff: float = 0.5, max_backoff: float = 8.0) -> None:
        self.client = client
        self.workers = workers
        self.pipeline = pipeline
        self.chunk_actions = chunk_actions
        self.chunk_bytes = chunk_bytes
        self.retries = retries
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff

    async def write(self, actions: list[Action]) -> BulkOutcome:
        """Write ``actions``; never raises for server trouble, reports it in the outcome."""
        if not actions:
            return BulkOutcome()
        size = self.chunk_actions
        groups = iter([actions[i:i + size] for i in range(0, len(actions), size)])
        progress = _Progress()
        async with asyncio.TaskGroup() as group:
            for _ in range(min(self.workers, -(-len(actions) // size))):
                group.create_task(self._worker(groups, progress))
        outcome = BulkOutcome(written=len(progress.done), failure=progress.failure)
        for action in actions:
            doc_id = action["_id"]
            if doc_id in progress.done:
                continue
            info = progress.rejected.get(doc_id)
            if info is not None:
                outcome.rejected.append((action, info))
            else:
                outcome.pending.append(action)
        return outcome

    async def _worker(self, groups: Iterator[list[Action]], progress: _Progress) -> None:
        """Take groups of up to ``chunk_actions`` actions until none are left; the helper splits
        a group further when it exceeds ``chunk_bytes`` and retries its items."""
        extra: dict[str, Any] = {"pipeline": self.pipeline} if self.pipeline else {}
        for group in groups:
            if progress.failure:
                return  # the server is gone: leave the rest pending
            try:
                async for ok, item in async_streaming_bulk(
                    self.client, group, chunk_size=self.chunk_actions, max_chunk_bytes=self.chunk_bytes,
                    raise_on_error=False, raise_on_exception=False, max_retries=self.retries,
                    initial_backoff=self.initial_backoff, max_backoff=self.max_backoff,
                    retry_on_status=RETRY_STATUSES, yield_ok=True, **extra,
                ):
                    op_type, info = next(iter(item.items()))
                    doc_id = str(info.get("_id", ""))
                    status = int(info.get("status") or 500)
                    if ok or (op_type == "create" and status == 409):
                        # 409 on create: an earlier attempt already wrote this very document.
                        progress.done.add(doc_id)
                    elif status not in PENDING_STATUSES:
                        progress.rejected[doc_id] = info
            except TransportError as exc:
                progress.failure = f"{type(exc).__name__}: {exc.message}"
