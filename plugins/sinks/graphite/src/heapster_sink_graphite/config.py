"""The ``graphite:`` URI (HEAPSTER.md §9.1): ``graphite:tcp|udp://host[:port]?prefix=...``."""

from __future__ import annotations

from dataclasses import dataclass

from heapster.errors import UsageError
from heapster.interfaces import Option
from heapster.sinks.lines import split_host_port
from heapster.uri import PluginConfig

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 2003
DEFAULT_PREFIX = "kubernetes"
PROTOCOLS = ("tcp", "udp")

OPTIONS: tuple[Option, ...] = (
    Option("prefix", default="", help=f"first path component of every metric (empty: {DEFAULT_PREFIX!r})"),
)
"""Every option of the ``graphite`` sink: Heapster had only ``prefix``."""


@dataclass(frozen=True, slots=True)
class GraphiteConfig:
    """Where carbon listens, how to reach it, and the path prefix."""

    protocol: str = "tcp"
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    prefix: str = DEFAULT_PREFIX


def build_config(config: PluginConfig) -> GraphiteConfig:
    """Check and type a ``graphite:`` URI; :class:`UsageError` naming the bad part."""
    url = config.url
    protocol = (url.scheme or "tcp").lower()
    if protocol not in PROTOCOLS:
        msg = f"bad protocol {url.scheme!r} for sink 'graphite'; valid: {', '.join(PROTOCOLS)} (graphite:tcp://host:2003)"
        raise UsageError(msg)
    try:
        host, port = split_host_port(url.netloc, DEFAULT_HOST, DEFAULT_PORT)
    except ValueError as exc:
        msg = f"bad address for sink 'graphite': {exc}"
        raise UsageError(msg) from None
    return GraphiteConfig(protocol=protocol, host=host, port=port, prefix=str(config["prefix"]) or DEFAULT_PREFIX)
