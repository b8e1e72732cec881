"""Which replica exports the combined namespace and cluster aggregates: one small, replaceable decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class AggregatorRole(Protocol):
    """Answers "does this replica export the namespace and cluster series now?"; asked once per window."""

    def is_aggregator(self) -> bool:
        """Whether this replica writes the combined aggregates to the sinks this window."""
        ...


@dataclass(frozen=True)
class FirstShard:
    """Shard 0 aggregates. Replace with a Lease-backed role (``leading``) once leader election is wired in."""

    index: int

    def is_aggregator(self) -> bool:
        return self.index == 0


class Leading(Protocol):
    """Anything that knows whether this replica holds the leader Lease (a leader elector)."""

    @property
    def leading(self) -> bool: ...


@dataclass(frozen=True)
class LeaseHolder:
    """The holder of the leader Lease aggregates: wire ``--leader-elect``'s elector in place of :class:`FirstShard`."""

    elector: Leading

    def is_aggregator(self) -> bool:
        return self.elector.leading
