"""Loopback addresses of the simulated kubelets: 127.0.0.2, 127.0.0.3, ... skipping .0 and .255."""

from __future__ import annotations

import ipaddress

_BASE = int(ipaddress.IPv4Address("127.0.0.0"))
_USABLE_PER_BLOCK = 254  # host octets 1..254 of each 127.a.b.0/24


def kubelet_address(index: int) -> str:
    """Loopback address of kubelet `index` (0-based): 0 -> 127.0.0.2, 252 -> 127.0.0.254, 253 -> 127.0.1.1."""
    if index < 0:
        raise ValueError(f"node index must be >= 0, got {index}")
    usable = index + 1  # usable address #0 is 127.0.0.1, which the API server keeps
    block, host = divmod(usable, _USABLE_PER_BLOCK)
    if block >= 256 * 256:
        raise ValueError(f"too many nodes for 127.0.0.0/8: {index + 1}")
    return str(ipaddress.IPv4Address(_BASE + block * 256 + host + 1))


def node_name(index: int) -> str:
    """Name of simulated node `index`: sim-node-0000, sim-node-0001, ..."""
    return f"sim-node-{index:04d}"
