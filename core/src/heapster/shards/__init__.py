"""Shards that answer as one (``--shard``): the node split, partial aggregates and the peer fan-out.

- :mod:`.spec`: ``--shard=I/N`` or ``auto/N`` (the index from a StatefulSet pod name);
- :mod:`.role`: which replica exports the combined namespace and cluster aggregates;
- :mod:`.discovery`: peers from the EndpointSlices of a headless Service;
- :mod:`.partials`: a shard's partial namespace/cluster sums of one window, and sums of them;
- :mod:`.coordinator`: per window, gathers every shard's partials and decides what each sink gets;
- :mod:`.fanout` and :mod:`.merge`: API answers for the whole cluster from every shard.
"""

LOCAL_HEADER = "X-Heapster-Shard-Local"
"""Set on requests a shard forwards to its peers: answer from this shard alone (no further fan-out)."""

MISSING_HEADER = "X-Heapster-Missing-Shards"
"""On answers that lack some shards: their indices, comma-separated."""
