"""Test helpers for ``--shard``: a fixed list of EndpointSlices standing in for the API server's."""

from __future__ import annotations

from typing import Any


class StaticEndpointSlices:
    """An :class:`heapster.shards.discovery.EndpointSliceWatch` over slices a test adds (no API server)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def slices(self) -> list[dict[str, Any]]:
        return self.items

    def add(self, name: str, port: int, *, ready: bool | None = True) -> None:
        """A peer ``name`` at ``127.0.0.1:port`` (``ready=None``: the slice gives no readiness)."""
        endpoint: dict[str, Any] = {"addresses": ["127.0.0.1"], "hostname": name}
        if ready is not None:
            endpoint["conditions"] = {"ready": ready}
        self.items.append({"endpoints": [endpoint], "ports": [{"port": port}]})
