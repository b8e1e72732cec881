"""The ``prometheus`` sink's URI options and the typed configuration built from them."""

from __future__ import annotations

from dataclasses import dataclass

from heapster.errors import UsageError
from heapster.interfaces import Option, OptionKind
from heapster.uri import PluginConfig
from heapster_sink_prometheus.names import DEFAULT_PREFIX, checked_prefix

DEFAULT_PORT = 9102

OPTIONS: tuple[Option, ...] = (
    Option("port", OptionKind.INT, DEFAULT_PORT, help="port of the scrape endpoint (0: any free port)"),
    Option("listen_ip", default="0.0.0.0", help="address the scrape endpoint listens on"),
    Option("path", default="/metrics", help="path of the scrape endpoint"),
    Option("prefix", default=DEFAULT_PREFIX, help="prefix of every metric name"),
    Option("timestamps", OptionKind.BOOL, True, help="give every sample the batch timestamp"),
)
"""Every option the ``prometheus`` sink accepts."""


@dataclass(frozen=True, slots=True)
class PrometheusConfig:
    """Where to serve the newest batch and how to name it."""

    port: int = DEFAULT_PORT
    listen_ip: str = "0.0.0.0"
    path: str = "/metrics"
    prefix: str = DEFAULT_PREFIX
    timestamps: bool = True


def build_config(config: PluginConfig) -> PrometheusConfig:
    """Check and type the options of a ``prometheus:`` URI; :class:`UsageError` on a bad value."""
    opts = config.options
    port = int(opts["port"])
    if not 0 <= port <= 65535:
        msg = f"bad value {port!r} for option 'port' of sink 'prometheus': must be 0..65535"
        raise UsageError(msg)
    path = str(opts["path"])
    if not path.startswith("/"):
        msg = f"bad value {path!r} for option 'path' of sink 'prometheus': must start with '/'"
        raise UsageError(msg)
    prefix = checked_prefix(str(opts["prefix"]), "sink 'prometheus'")
    return PrometheusConfig(port=port, listen_ip=str(opts["listen_ip"]), path=path, prefix=prefix,
                            timestamps=bool(opts["timestamps"]))
